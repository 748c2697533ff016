import { fileURLToPath } from 'node:url';

/** The bundled stories260K model (MIT, see models/stories260K/LICENSE): the default for every command. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url));
