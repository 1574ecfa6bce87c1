/** Where the checkout is, whether this code runs from source (tsx) or compiled into `dist/` (`npm run build`). */
import path from 'node:path';

const above = path.resolve(__dirname, '..');
/** The repository root: assets (console/, migrations) and relative DATA_DIR paths resolve from here. */
export const ROOT = path.basename(above) === 'dist' ? path.dirname(above) : above;
