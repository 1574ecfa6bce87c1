// `npm run migrate`: create the database if needed and apply pending migrations.
import { loadConfig } from '../config';
import { migrate } from '../migrate';

migrate(loadConfig(), (msg) => console.log(msg)).then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
