package sim

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Answers that drift from the service description: the extra-field,
// drop-field and rename-field faults change a successful answer's JSON,
// so that a client's handling of fields it does not know, of missing
// mandatory fields and of a renamed list can be tried.

func reshapeKind(k FaultKind) bool {
	return k == FaultExtraField || k == FaultDropField || k == FaultRenameField
}

// validateReshape checks the fields of a reshaping fault.
func (f Fault) validateReshape() error {
	if !reshapeKind(f.Kind) {
		return nil
	}
	list, key, nested := strings.Cut(f.Field, "[].")
	switch {
	case f.Operation == OpToken:
		return fmt.Errorf("%w: %s acts on API answers, not the token endpoint", ErrInvalid, f.Kind)
	case f.Field == "" || list == "" || (nested && (key == "" || strings.Contains(key, "[]"))):
		return fmt.Errorf("%w: %s needs a field: a key or list[].key", ErrInvalid, f.Kind)
	case f.Kind == FaultRenameField && (nested || f.To == ""):
		return fmt.Errorf("%w: rename-field renames a top-level field to another (field and to)", ErrInvalid)
	}
	return nil
}

// reshape applies a reshaping fault to the JSON object body. A body that
// is not an object, or lacks the list, stays as it is.
func reshape(body []byte, f *Fault) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	list, key, nested := strings.Cut(f.Field, "[].")
	switch {
	case f.Kind == FaultRenameField:
		if v, ok := obj[f.Field]; ok {
			delete(obj, f.Field)
			obj[f.To] = v
		}
	case !nested:
		reshapeObject(obj, f.Kind, f.Field)
	default:
		var items []map[string]json.RawMessage
		if json.Unmarshal(obj[list], &items) != nil {
			return body
		}
		for _, it := range items {
			reshapeObject(it, f.Kind, key)
		}
		obj[list], _ = json.Marshal(items)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

func reshapeObject(obj map[string]json.RawMessage, kind FaultKind, key string) {
	if kind == FaultDropField {
		delete(obj, key)
		return
	}
	obj[key] = json.RawMessage(`"simulerat"`)
}
