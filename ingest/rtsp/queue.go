package rtsp

import (
	"sync"
	"sync/atomic"
)

// Queue is one consumer's bounded view of a stream's access units. The
// stream's reader never waits on it: when the queue is full the oldest unit
// is dropped and counted, and the consumer learns of the gap from Take, so
// that a decoder can wait for the next keyframe instead of decoding
// pictures whose references are gone.
type Queue struct {
	name  string
	ready chan struct{}

	mu   sync.Mutex
	buf  []*AccessUnit // ring
	head int
	n    int
	gap  bool // units were dropped since the last Take
	done bool

	dropped atomic.Uint64
}

func newQueue(name string, size int) *Queue {
	return &Queue{name: name, buf: make([]*AccessUnit, max(size, 1)), ready: make(chan struct{}, 1)}
}

// Name is the consumer's name, as given to Subscribe.
func (q *Queue) Name() string { return q.name }

// push queues au, dropping the oldest unit when full.
func (q *Queue) push(au *AccessUnit) {
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return
	}
	if q.n == len(q.buf) {
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.gap = true
		q.dropped.Add(1)
	}
	q.buf[(q.head+q.n)%len(q.buf)] = au
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready receives when units may be waiting.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Take appends every queued unit to dst, oldest first. gap reports that
// units were dropped before (or among) them since the previous Take.
func (q *Queue) Take(dst []*AccessUnit) (units []*AccessUnit, gap bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for ; q.n > 0; q.n-- {
		dst = append(dst, q.buf[q.head])
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
	}
	gap, q.gap = q.gap, false
	return dst, gap
}

// Len is the number of queued units.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Closed reports that the stream has stopped and will queue no more.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.done
}

// Dropped counts the units this consumer lost to a full queue.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// close stops the queue taking units and wakes the consumer.
func (q *Queue) close() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
