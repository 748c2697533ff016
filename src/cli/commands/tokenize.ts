import { MetadataReader } from '../../formats/gguf/index.js';
import { readModel } from '../../formats/read-model.js';
import { createTokenizer } from '../../tokenizer/tokenizer.js';
import { defineCommand, parseCommandArgs, TOKENIZER_FLAG } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const TOKENIZE_COMMAND = defineCommand({
  name: 'tokenize',
  synopsis: '[--model PATH] --text TEXT [--no-special] [--parse-special]',
  summary: 'Prints the token ids of TEXT as a JSON array (BOS/EOS added as the model says unless --no-special).',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model or Hugging Face directory (only its header is read)', default: 'the bundled stories260K' },
    tokenizer: TOKENIZER_FLAG,
    text: { type: 'string', arg: 'TEXT', help: 'the text to tokenize', default: 'empty' },
    'no-special': { type: 'boolean', help: "add no BOS/EOS, whatever the model's metadata says" },
    'parse-special': { type: 'boolean', help: 'read control-token text in TEXT (such as <|eot_id|>) as those tokens' },
  },
});

export function runTokenize(argv: string[], out: NodeJS.WritableStream): void {
  const { values } = parseCommandArgs(argv, TOKENIZE_COMMAND);
  const path = values.model ?? DEFAULT_MODEL_PATH;
  // the tokenizer needs only the header, not the weights
  const file = readModel(path, { tokenizer: values.tokenizer });
  const tokenizer = createTokenizer(new MetadataReader(file.metadata, path));
  const ids = tokenizer.encode(values.text ?? '', {
    addSpecial: !values['no-special'],
    parseSpecial: values['parse-special'] ?? false,
  });
  out.write(JSON.stringify(ids) + '\n');
}
