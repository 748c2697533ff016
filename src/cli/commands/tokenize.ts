import { MetadataReader, readGguf } from '../../formats/gguf/index.js';
import { createTokenizer } from '../../tokenizer/tokenizer.js';
import { parseCommandArgs } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const TOKENIZE_USAGE = `peregrine tokenize [--model PATH] --text TEXT [--no-special] [--parse-special]
  Prints the token ids of TEXT as a JSON array (BOS/EOS added as the model says unless --no-special).`;

export function runTokenize(argv: string[], out: NodeJS.WritableStream): void {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string' },
    text: { type: 'string' },
    'no-special': { type: 'boolean' },
    'parse-special': { type: 'boolean' },
  });
  const path = values.model ?? DEFAULT_MODEL_PATH;
  // the tokenizer needs only the header, not the weights
  const file = readGguf(path);
  const tokenizer = createTokenizer(new MetadataReader(file.metadata, path));
  const ids = tokenizer.encode(values.text ?? '', {
    addSpecial: !values['no-special'],
    parseSpecial: values['parse-special'] ?? false,
  });
  out.write(JSON.stringify(ids) + '\n');
}
