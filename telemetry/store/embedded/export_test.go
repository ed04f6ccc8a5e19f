package embedded

// ReleaseLock lets c's lock go with its server still running: what a
// killed smarteye leaves behind.
func ReleaseLock(c *Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.release()
}

// SameDevice is sameDevice.
var SameDevice = sameDevice
