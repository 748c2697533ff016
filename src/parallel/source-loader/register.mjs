/** `node --import <this file>`: registers hooks.mjs, so the process or worker can run `.ts` sources (see there). */
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
