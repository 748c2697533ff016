import { HttpError } from './http-error.js';

/** `model`, when given, must name the served model by its name or an alias (the OpenAI clients always send one); else 404 model_not_found. */
export function checkServedModel(model: string | undefined, servedModelNames: readonly string[]): void {
  if (model === undefined || servedModelNames.includes(model)) return;
  const names = servedModelNames.map((name) => `'${name}'`);
  const served = names.length === 1 ? names[0] : `${names[0]} (also named ${names.slice(1).join(', ')})`;
  throw new HttpError(404, `The model '${model}' does not exist; this server serves ${served}`, 'invalid_request_error', 'model', 'model_not_found');
}
