// Added to FerretDB's SQLite backend by tools/ferretdb/overlay.py.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idWhereClause selects by the filter's _id when it is a string or ObjectID, or an $in of
// only those, whatever other fields the filter names: the backend may apply a filter
// partly, and the handler applies all of it to what comes back. It returns "" otherwise.
func idWhereClause(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}

	v, err := filter.Get("_id")
	if err != nil {
		return "", nil
	}

	switch v := v.(type) {
	case string, types.ObjectID:
		return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}

	case *types.Document:
		if v.Len() != 1 {
			return "", nil
		}

		in, err := v.Get("$in")
		if err != nil {
			return "", nil
		}

		ids, ok := in.(*types.Array)
		if !ok || ids.Len() == 0 {
			return "", nil
		}

		placeholders := make([]string, 0, ids.Len())
		args := make([]any, 0, ids.Len())

		for i := 0; i < ids.Len(); i++ {
			id := must.NotFail(ids.Get(i))
			switch id.(type) {
			case string, types.ObjectID:
			default:
				return "", nil
			}

			placeholders = append(placeholders, "?")
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))
		}

		return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", ")), args
	}

	return "", nil
}
