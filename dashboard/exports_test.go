package dashboard

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard/export"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// Exports belong to whoever asked for them: others get 404 and do not see
// them listed; admins see all.
func TestExportsAreTheirOwners(t *testing.T) {
	base, _, seg := serveRecordings(t)
	body := `{"kind":"events","format":"csv","from":"` + seg.Start.UTC().Format(time.RFC3339) + `","to":"` + seg.End.UTC().Format(time.RFC3339) + `"}`
	planner, commander := newUser(t), newUser(t)
	planner.login(base, "planner-user", "plannerplanner")
	commander.login(base, "commander-user", "commandercommander")
	var job export.Job
	json.Unmarshal([]byte(planner.must(202, "POST", base+"api/v1/exports", body)), &job)
	testkit.WaitFor(t, time.Minute, "the export", func() bool {
		json.Unmarshal([]byte(planner.must(200, "GET", base+"api/v1/exports/"+job.ID, "")), &job)
		return job.Status == export.Done
	})
	planner.must(200, "GET", base+"api/v1/exports/"+job.ID+"/file", "")
	commander.must(404, "GET", base+"api/v1/exports/"+job.ID, "")
	commander.must(404, "GET", base+"api/v1/exports/"+job.ID+"/file", "")
	if list := commander.must(200, "GET", base+"api/v1/exports", ""); strings.Contains(list, job.ID) {
		t.Fatalf("another user lists the export: %s", list)
	}
	if list := planner.must(200, "GET", base+"api/v1/exports", ""); !strings.Contains(list, job.ID) {
		t.Fatalf("its owner does not list it: %s", list)
	}
	adm := newUser(t)
	adm.login(base, "admin-user", "adminadmin")
	adm.must(200, "GET", base+"api/v1/exports/"+job.ID+"/file", "")
}
