// Package batch is the write path of smarteye's time-series rows: the one
// Writer that queues rows, groups them per table into batches and hands
// each batch to a Copier (the store) to write with COPY, and the outage
// spool that keeps batches, in order, while the database cannot take them.
//
// It knows tables only as names and typed columns (Table, Column, Kind):
// the schema's tables and their row builders are package store's, which
// also implements Copier. It must not know SQL beyond classifying a
// database error as unavailability (Retryable).
package batch

import (
	"context"
	"fmt"
	"time"
)

// Kind is the Go type a column's values have when they are handed to the
// writer. Each kind takes exactly one Go type, so that a row can be checked
// once on entry and spooled without reflection.
type Kind uint8

// Column kinds and the Go type each takes. nil is NULL for every kind.
const (
	KindTime    Kind = iota + 1 // time.Time (timestamptz)
	KindFloat64                 // float64 (double precision)
	KindFloat32                 // float32 (real)
	KindInt64                   // int64 (bigint)
	KindInt32                   // int32 (integer)
	KindInt16                   // int16 (smallint)
	KindText                    // string (text)
	KindBool                    // bool (boolean)
	KindUUID                    // [16]byte (uuid)
	KindJSON                    // []byte holding JSON (jsonb)
	kindEnd
)

var kindNames = [...]string{"", "time", "float64", "float32", "int64", "int32", "int16", "text", "bool", "uuid", "json"}

func (k Kind) String() string {
	if k == 0 || k >= kindEnd {
		return fmt.Sprintf("kind(%d)", k)
	}
	return kindNames[k]
}

func (k Kind) accepts(v any) bool {
	switch v.(type) {
	case nil:
		return true
	case time.Time:
		return k == KindTime
	case float64:
		return k == KindFloat64
	case float32:
		return k == KindFloat32
	case int64:
		return k == KindInt64
	case int32:
		return k == KindInt32
	case int16:
		return k == KindInt16
	case string:
		return k == KindText
	case bool:
		return k == KindBool
	case [16]byte:
		return k == KindUUID
	case []byte:
		return k == KindJSON
	}
	return false
}

// Column is one column a table's rows carry through the writer. Generated
// columns (the PostGIS point built from lat/lon) are not listed: the
// database computes them.
type Column struct {
	Name string
	Kind Kind
}

// Table describes the columns of a time-series table as the writer fills it.
// The first column is the row's time: it picks the partition.
type Table struct {
	Name    string
	Columns []Column
}

// CheckRow reports whether values fit the table's columns.
func (t *Table) CheckRow(values []any) error {
	if len(values) != len(t.Columns) {
		return fmt.Errorf("store: %s: got %d values for %d columns", t.Name, len(values), len(t.Columns))
	}
	for i, v := range values {
		if !t.Columns[i].Kind.accepts(v) {
			return fmt.Errorf("store: %s.%s: got %T, want %s", t.Name, t.Columns[i].Name, v, t.Columns[i].Kind)
		}
	}
	if _, ok := values[0].(time.Time); !ok {
		return fmt.Errorf("store: %s: the time column is NULL", t.Name)
	}
	return nil
}

// ColumnNames are the names of the table's columns, in order (a COPY's).
func (t *Table) ColumnNames() []string {
	n := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		n[i] = c.Name
	}
	return n
}

// Batch is a set of rows of one table written in one transaction. Its ID
// makes the write idempotent: the store records it in the same transaction
// and skips a batch whose ID it already has.
type Batch struct {
	ID    [16]byte
	Table *Table
	Rows  [][]any
	born  time.Time // when its first row was queued
}

// Copier writes one batch atomically; it reports duplicate when the batch's
// ID was committed before (and writes nothing). *store.Store implements it.
type Copier interface {
	CopyBatch(ctx context.Context, b *Batch) (duplicate bool, err error)
}
