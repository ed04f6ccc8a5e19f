package batch

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotReady is what a Copier returns while its database is not ready
// (not reached, or not migrated yet): Retryable counts it as unavailability.
var ErrNotReady = errors.New("store: database not ready")

// Retryable reports whether err means the database is unavailable (try the
// same thing later) rather than that it refused the data.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotReady) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: shutdown, cannot connect now
			"58", // system error (I/O)
			"40": // transaction rollback: serialization failure, deadlock
			return true
		}
		switch pgErr.Code {
		case "55P03", // lock not available
			"42P01": // undefined table: schema not migrated (yet, or again)
			return true
		}
		return false
	}
	// Anything else (a refused or closed connection, a timeout, an
	// unexpected EOF) is unavailability: spooling is safe, dropping is not.
	return true
}
