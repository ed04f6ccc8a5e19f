package dashboard

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	var job Export
	json.Unmarshal([]byte(planner.must(202, "POST", base+"api/v1/exports", body)), &job)
	testkit.WaitFor(t, time.Minute, "the export", func() bool {
		json.Unmarshal([]byte(planner.must(200, "GET", base+"api/v1/exports/"+job.ID, "")), &job)
		return job.Status == exportDone
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

// The finished exports' files stay within the quota: the oldest go first,
// and a file that alone would pass it fails while being written.
func TestExportsQuota(t *testing.T) {
	dir := t.TempDir()
	e := newExporter(dir, 1000)
	now := time.Now()
	for i, size := range []int64{400, 400, 400} {
		id := string(rune('a' + i))
		f := filepath.Join(dir, id)
		os.WriteFile(f, make([]byte, size), 0o644)
		at := now.Add(time.Duration(i) * time.Second)
		e.jobs[id] = &Export{ID: id, Status: exportDone, Bytes: size, FinishedAt: &at, file: f}
		if !e.makeRoom(id, size) {
			t.Fatalf("%s does not fit", id)
		}
	}
	if _, ok := e.jobs["a"]; ok {
		t.Fatal("the oldest export was kept past the quota")
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatal("the oldest export's file was kept")
	}
	if len(e.jobs) != 2 {
		t.Fatalf("%d exports kept", len(e.jobs))
	}
	q := &quotaWriter{w: &strings.Builder{}, max: 1000}
	if _, err := q.Write(make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	var big errExportTooLarge
	if _, err := q.Write(make([]byte, 200)); !errors.As(err, &big) || !strings.Contains(err.Error(), "exports_max_size") {
		t.Fatalf("past the quota: %v", err)
	}
}
