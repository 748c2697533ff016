/**
 * Splits a step's sequences into at most `maxGroups` contiguous, non-empty groups (micro-batches
 * for a pipeline: stage s works on one while stage s+1 works on the one before) of about equal
 * token counts: a group ends once the tokens so far reach their share of the total, or when each
 * sequence left must start a group of its own. Fewer sequences than maxGroups give one group each.
 */
export function splitMicroBatches<T>(items: readonly T[], numTokensOf: (item: T) => number, maxGroups: number): T[][] {
  const numGroups = Math.min(maxGroups, items.length);
  if (numGroups <= 1) return [[...items]];
  const total = items.reduce((sum, item) => sum + numTokensOf(item), 0);
  const groups: T[][] = [];
  let group: T[] = [];
  let numTokensSoFar = 0;
  items.forEach((item, i) => {
    group.push(item);
    numTokensSoFar += numTokensOf(item);
    const numGroupsLeft = numGroups - groups.length - 1; // groups still to start after this one
    const numItemsLeft = items.length - i - 1;
    if (numGroupsLeft > 0 && (numTokensSoFar * numGroups >= total * (groups.length + 1) || numItemsLeft === numGroupsLeft)) {
      groups.push(group);
      group = [];
    }
  });
  groups.push(group);
  return groups;
}
