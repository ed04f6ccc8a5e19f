package dashboard

import (
	"github.com/smarteye/smarteye/dashboard/alerts"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/export"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// These names keep the code that builds a server and reads its answers
// (cmd/smarteye, deploy/bench) compiling as it was: logins and accounts
// live in package auth, exports in package export, alerts in package
// alerts and the supervision sessions' types in telemetry/supervise.
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
	// Deprecated: use alerts.Detail.
	AlertDetail = alerts.Detail
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
