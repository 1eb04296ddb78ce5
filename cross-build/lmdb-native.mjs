// Takes the place of node-gyp-build-optional-packages inside the bundle. lmdb calls it to find its
// native part among npm prebuild folders; in the OpenWrt package that part has one fixed home beside
// the bundle (/usr/lib/tunguard/lmdb.node), so there is nothing to search. TUNGUARD_LMDB_ADDON points
// elsewhere (tests run the bundle on a glibc host with the host's prebuild).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export default function loadLmdbAddon() {
  const file = process.env.TUNGUARD_LMDB_ADDON || join(here, 'lmdb.node');
  try {
    return createRequire(import.meta.url)(file);
  } catch (err) {
    throw new Error(`lmdb's native part ${file} cannot be loaded: ${err.message}`);
  }
}
