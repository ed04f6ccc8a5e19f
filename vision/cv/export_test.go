package cv

// KillWorker kills a Remote's worker process, as a crash would.
func KillWorker(r *Remote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd.Process.Kill()
}

// WorkerPID is the pid of a Remote's worker process.
func WorkerPID(r *Remote) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd.Process.Pid
}
