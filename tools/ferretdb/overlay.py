"""Fixes to FerretDB's source, applied at build time to a copy of its module.

FerretDB v1.24's SQLite backend creates the unique `_id` index on the expression
`_ferretdb_sjson->"_id"` but looks documents up by `_ferretdb_sjson->'$._id'`; SQLite uses
an index only for the very expression it was built on, so every `{_id: ...}` find, update
and delete scanned the whole collection (docs/performance.md, "FerretDB's _id lookups").
The first fix makes lookups use the index's expression. The second hands SQLite an `_id`
equality or `$in` whatever else the filter names (FerretDB pushed down only `{_id: x}`
alone), so a history page is one query (patches/idfilter.go). The third frees each update
statement's query when the statement is done: FerretDB kept them all open until the command
ended, each holding one of the SQLite backend's 100 connections, so an update command of
100 statements (a bulk replace) waited for a connection forever, and every client with it.

Each fix names the text it replaces; if FerretDB changes so that the text is not there
exactly once, the build stops here instead of shipping an unpatched server.

Usage: overlay.py MODULE_DIR OUT_DIR. OUT_DIR gets the patched copy of the module (src/)
and a go.mod and go.sum that build main.go against it (`go build -modfile OUT_DIR/go.mod`;
Go refuses overlays of files in its module cache).
"""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

FIXES = [
    (
        "internal/backends/sqlite/metadata/metadata.go",
        """IDColumn = DefaultColumn + "->'$._id'\"""",
        """IDColumn = DefaultColumn + `->"_id"`""",
    ),
    (
        "internal/backends/sqlite/collection.go",
        """	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause""",
        """	whereClause, args = idWhereClause(params.Filter)

	q += whereClause""",
    ),
    (
        "internal/backends/sqlite/collection.go",
        """	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			filterPushdown = true
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}""",
        '\twhereClause, args = idWhereClause(params.Filter)\n\tfilterPushdown = whereClause != ""',
    ),
    (
        "internal/handler/msg_update.go",
        """		closer := iterator.NewMultiCloser()
		defer closer.Close()

		closer.Add(res.Iter)

		iter := common.FilterIterator(res.Iter, closer, u.Filter)

		if !u.Multi {
			iter = common.LimitIterator(iter, closer, 1)
		}

		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {""",
        """		closer := iterator.NewMultiCloser()
		closer.Add(res.Iter)

		iter := common.FilterIterator(res.Iter, closer, u.Filter)

		if !u.Multi {
			iter = common.LimitIterator(iter, closer, 1)
		}

		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		// The statement's query holds a connection: free it now, not when the command ends.
		closer.Close()
		if err != nil {""",
    ),
]
# Files added to the module: (path in the module, file under tools/ferretdb/patches).
ADDED = [("internal/backends/sqlite/idfilter.go", "idfilter.go")]


def main(module_dir: str, out_dir: str) -> None:
    here, out = Path(__file__).resolve().parent, Path(out_dir).resolve()
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    # The module cache is read-only; the copy must be writable to patch and remove later.
    shutil.copytree(module_dir, src, copy_function=shutil.copyfile)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for relative, old, new in FIXES:
        patched = src / relative
        text = patched.read_text()
        if text.count(old) != 1:
            sys.exit(f"overlay: {relative} no longer holds {old!r} once; review the fix")
        patched.write_text(text.replace(old, new))
    for relative, name in ADDED:
        shutil.copyfile(here / "patches" / name, src / relative)
    gomod = (here / "go.mod").read_text()
    (out / "go.mod").write_text(f"{gomod}\nreplace github.com/FerretDB/FerretDB => {src}\n")
    shutil.copyfile(here / "go.sum", out / "go.sum")


if __name__ == "__main__":
    main(*sys.argv[1:])
