package dashboard

import (
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/export"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// Logins and accounts live in package auth, exports in package export,
// supervision sessions' rules and types in telemetry/supervise.
// These names keep the code that builds a server and reads its answers
// (cmd/smarteye, deploy/bench) as it was.
type (
	// Deprecated: use auth.Config.
	AuthConfig = auth.Config
	// Deprecated: use auth.User.
	User = auth.User
	// Deprecated: use auth.Token.
	Token = auth.Token
	// Deprecated: use auth.LDAPConfig.
	LDAPConfig = auth.LDAPConfig
	// Deprecated: use auth.LDAPGroup.
	LDAPGroup = auth.LDAPGroup
	// Deprecated: use export.Job.
	Export = export.Job
	// Deprecated: use supervise.Attendance.
	Attendance = supervise.Attendance
)

// Deprecated: use auth.RoleAdmin.
const RoleAdmin = auth.RoleAdmin

// HashPassword is auth.HashPassword.
//
// Deprecated: use auth.HashPassword.
func HashPassword(password string) (string, error) { return auth.HashPassword(password) }

// NewToken is auth.NewToken.
//
// Deprecated: use auth.NewToken.
func NewToken() (token, sha string) { return auth.NewToken() }
