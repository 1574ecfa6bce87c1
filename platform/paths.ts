/** Where the checkout is, whether this code runs from source (tsx) or compiled into `dist/` (`npm run build`). */
import path from 'node:path';

const above = path.resolve(__dirname, '..');
/** Running the output of `npm run build` (dist/), not the TypeScript sources. */
export const COMPILED = path.basename(above) === 'dist';
/** The repository root: assets (console/, migrations) and relative DATA_DIR paths resolve from here. */
export const ROOT = COMPILED ? path.dirname(above) : above;
