import { holdsJson, type OutGuard } from '../util/out-dir.ts';

/** A bundle folder: marked, or (before markers) holding a bundle manifest.json. */
export const BUNDLE_OUTPUT: OutGuard = { command: 'bundle', legacy: holdsJson('manifest.json', 'schema', 'plastisort.bundle/1') };
