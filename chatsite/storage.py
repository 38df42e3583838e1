"""Where collected static files go when DEBUG is off."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ModuleManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's hashed, compressed files, with each ES module's relative imports hashed too.

    Without it `import { x } from "./timeline.js"` in a hashed app.js still names the plain
    file, which is served without a version and cached for a minute, so after a deploy a page
    could run the new app.js against the old timeline.js.
    """

    support_js_module_import_aggregation = True
