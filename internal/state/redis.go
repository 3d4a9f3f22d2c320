package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore is the backend replicas share. Every change is one atomic
// Redis command, script or MULTI, so a replica that dies, or a Redis that
// goes away, leaves nothing half-written. Keys start with "pandav:".
type redisStore struct {
	c      *redis.Client
	origin string // this process, so that it skips its own messages

	mu       sync.Mutex
	watchers []func(topic, msg string)
	pubsub   *redis.PubSub
	// applied is the version of the last message dispatched here (each
	// Publish counts one up in redisVersion).
	applied atomic.Int64
	seen    chan struct{} // closed and replaced at each message
}

const (
	redisTokens   = "pandav:tokens"
	redisLocks    = "pandav:locks"
	redisRemovals = "pandav:removals"
	redisSeq      = "pandav:removals:seq"
	redisEvents   = "pandav:events"
	redisVersion  = "pandav:events:version"
)

func redisLease(name string) string      { return "pandav:lease:" + name }
func redisProps(mount, id string) string { return "pandav:props:" + propKey(mount, id) }
func unavailable(op string, err error) error {
	return fmt.Errorf("%w (%s): %v", ErrUnavailable, op, err)
}

// OpenRedis connects to the Redis (or Valkey) at url, "redis://host:port/db".
// It does not wait for Redis to answer: a Redis that is down now makes
// the requests that need it fail with ErrUnavailable until it is back.
func OpenRedis(url string) (Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %v", redactURL(err))
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	// One retry, for a pooled connection Redis closed when it restarted;
	// a Redis that is down fails at once, as a request waits on it.
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.DialerRetryTimeout = 20 * time.Millisecond
	var b [8]byte
	rand.Read(b[:])
	return &redisStore{c: redis.NewClient(opt), origin: hex.EncodeToString(b[:]), seen: make(chan struct{})}, nil
}

// redactURL keeps a password in the URL out of the message.
func redactURL(err error) string {
	s := err.Error()
	if i := strings.Index(s, "@"); i >= 0 {
		return "bad URL"
	}
	return s
}

func (s *redisStore) Shared() bool { return true }

func (s *redisStore) Close() error {
	s.mu.Lock()
	if s.pubsub != nil {
		s.pubsub.Close()
	}
	s.mu.Unlock()
	return s.c.Close()
}

func (s *redisStore) LoadToken(ctx context.Context, key string) (tok Token, ok bool, err error) {
	raw, err := s.c.HGet(ctx, redisTokens, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, unavailable("load token", err)
	}
	if err := json.Unmarshal(raw, &tok); err != nil {
		return Token{}, false, fmt.Errorf("token %s in Redis is unreadable: %w", key, err)
	}
	return tok, true, nil
}

func (s *redisStore) PutToken(ctx context.Context, key string, tok Token) error {
	raw, _ := json.Marshal(tok)
	if err := s.c.HSet(ctx, redisTokens, key, raw).Err(); err != nil {
		return unavailable("store token", err)
	}
	return nil
}

// swapScript stores ARGV[2] as KEYS[1][ARGV[1]] if the refresh token
// stored there is ARGV[3] ("" for none); it returns what is stored.
var swapScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local prev = ''
if cur then prev = cjson.decode(cur)['refresh_token'] or '' end
if prev == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {1, ARGV[2]}
end
return {0, cur or ''}`)

func (s *redisStore) SwapToken(ctx context.Context, key, prev string, tok Token) (Token, bool, error) {
	raw, _ := json.Marshal(tok)
	res, err := swapScript.Run(ctx, s.c, []string{redisTokens}, key, raw, prev).Slice()
	if err != nil {
		return Token{}, false, unavailable("swap token", err)
	}
	swapped := res[0].(int64) == 1
	var stored Token
	if str, _ := res[1].(string); str != "" {
		if err := json.Unmarshal([]byte(str), &stored); err != nil {
			return Token{}, false, fmt.Errorf("token %s in Redis is unreadable: %w", key, err)
		}
	}
	return stored, swapped, nil
}

// leaseScript gives KEYS[1] to ARGV[1] for ARGV[2] ms when it is free or
// ARGV[1]'s.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`)

func (s *redisStore) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.c, []string{redisLease(name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, unavailable("lease", err)
	}
	return n == 1, nil
}

func (s *redisStore) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := releaseScript.Run(ctx, s.c, []string{redisLease(name)}, owner).Err(); err != nil {
		return unavailable("release lease", err)
	}
	return nil
}

func decodeLocks(all map[string]string, now time.Time) (map[string]Lock, error) {
	m := map[string]Lock{}
	for k, v := range all {
		var l Lock
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return nil, fmt.Errorf("lock %s in Redis is unreadable: %w", k, err)
		}
		if now.Before(l.Expires) {
			m[k] = l
		}
	}
	return m, nil
}

func (s *redisStore) LiveLocks(ctx context.Context, now time.Time) (map[string]Lock, error) {
	all, err := s.c.HGetAll(ctx, redisLocks).Result()
	if err != nil {
		return nil, unavailable("read locks", err)
	}
	return decodeLocks(all, now)
}

// UpdateLocks is optimistic: the lock table is watched while fn runs, and
// written whole in a MULTI that fails, and is tried again, if another
// replica changed it meanwhile.
func (s *redisStore) UpdateLocks(ctx context.Context, now time.Time, fn func(map[string]Lock) error) error {
	for {
		var fnErr error
		err := s.c.Watch(ctx, func(tx *redis.Tx) error {
			all, err := tx.HGetAll(ctx, redisLocks).Result()
			if err != nil {
				return err
			}
			m, err := decodeLocks(all, now)
			if err != nil {
				fnErr = err
				return nil
			}
			if fnErr = fn(m); fnErr != nil {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, redisLocks)
				for tok, l := range m {
					raw, _ := json.Marshal(l)
					p.HSet(ctx, redisLocks, tok, raw)
				}
				return nil
			})
			return err
		}, redisLocks)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue // another replica's change came first
		case err != nil:
			return unavailable("update locks", err)
		}
		if fnErr == nil {
			s.Publish(ctx, "locks", "")
		}
		return fnErr
	}
}

func (s *redisStore) GetProps(ctx context.Context, mount, id string) (map[string][]byte, error) {
	all, err := s.c.HGetAll(ctx, redisProps(mount, id)).Result()
	if err != nil {
		return nil, unavailable("read properties", err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(all))
	for k, v := range all {
		out[k] = []byte(v)
	}
	return out, nil
}

func (s *redisStore) PatchProps(ctx context.Context, mount, id string, set map[string][]byte, remove []string) error {
	k := redisProps(mount, id)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(remove) > 0 {
			p.HDel(ctx, k, remove...)
		}
		for n, v := range set {
			p.HSet(ctx, k, n, v)
		}
		return nil
	})
	if err != nil {
		return unavailable("store properties", err)
	}
	s.Publish(ctx, "props", propKey(mount, id))
	return nil
}

var copyPropsScript = redis.NewScript(`
local src = redis.call('HGETALL', KEYS[1])
if #src == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(src))
if ARGV[1] == '1' and KEYS[1] ~= KEYS[2] then redis.call('DEL', KEYS[1]) end
return 1`)

func (s *redisStore) CopyProps(ctx context.Context, mount, from, to string, move bool) error {
	mv := "0"
	if move {
		mv = "1"
	}
	if err := copyPropsScript.Run(ctx, s.c, []string{redisProps(mount, from), redisProps(mount, to)}, mv).Err(); err != nil {
		return unavailable("copy properties", err)
	}
	s.Publish(ctx, "props", propKey(mount, from))
	s.Publish(ctx, "props", propKey(mount, to))
	return nil
}

func (s *redisStore) DropProps(ctx context.Context, mount, id string) error {
	if err := s.c.Del(ctx, redisProps(mount, id)).Err(); err != nil {
		return unavailable("drop properties", err)
	}
	s.Publish(ctx, "props", propKey(mount, id))
	return nil
}

var addRemovalScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[2])
local id = string.format('%020d', n)
local r = cjson.decode(ARGV[1])
r['id'] = id
redis.call('HSET', KEYS[1], id, cjson.encode(r))
return id`)

func (s *redisStore) AddRemoval(ctx context.Context, r Removal) (string, error) {
	raw, _ := json.Marshal(r)
	id, err := addRemovalScript.Run(ctx, s.c, []string{redisRemovals, redisSeq}, raw).Text()
	if err != nil {
		return "", unavailable("add removal", err)
	}
	return id, nil
}

func (s *redisStore) Removals(ctx context.Context) ([]Removal, error) {
	all, err := s.c.HGetAll(ctx, redisRemovals).Result()
	if err != nil {
		return nil, unavailable("read removals", err)
	}
	list := make([]Removal, 0, len(all))
	for k, v := range all {
		var r Removal
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("removal %s in Redis is unreadable: %w", k, err)
		}
		list = append(list, r)
	}
	sortRemovals(list)
	return list, nil
}

func (s *redisStore) DoneRemoval(ctx context.Context, id string) error {
	if err := s.c.HDel(ctx, redisRemovals, id).Err(); err != nil {
		return unavailable("finish removal", err)
	}
	return nil
}

// publishScript numbers the message and publishes it with its number,
// atomically, so that numbers arrive in order.
var publishScript = redis.NewScript(`
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], v .. '\0' .. ARGV[1])
return v`)

// Publish sends topic and msg to the other processes' Watch functions.
func (s *redisStore) Publish(ctx context.Context, topic, msg string) error {
	if err := publishScript.Run(ctx, s.c, []string{redisVersion, redisEvents}, s.origin+"\x00"+topic+"\x00"+msg).Err(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// syncWait bounds how long Sync waits for messages on their way; past
// it, what is cached is dropped instead ("all").
const syncWait = 250 * time.Millisecond

func (s *redisStore) Sync(ctx context.Context) error {
	want, err := s.c.Get(ctx, redisVersion).Int64()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return unavailable("sync", err)
	}
	s.mu.Lock()
	watching := s.pubsub != nil
	s.mu.Unlock()
	if !watching {
		return nil
	}
	timeout := time.NewTimer(syncWait)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		seen := s.seen
		s.mu.Unlock()
		if s.applied.Load() >= want {
			return nil
		}
		select {
		case <-seen:
		case <-timeout.C:
			s.dispatch("all", "")
			s.advance(want)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advance records that the messages up to v were dispatched.
func (s *redisStore) advance(v int64) {
	for {
		cur := s.applied.Load()
		if v <= cur || s.applied.CompareAndSwap(cur, v) {
			break
		}
	}
	s.mu.Lock()
	close(s.seen)
	s.seen = make(chan struct{})
	s.mu.Unlock()
}

func (s *redisStore) dispatch(topic, msg string) {
	s.mu.Lock()
	ws := append([]func(string, string){}, s.watchers...)
	s.mu.Unlock()
	for _, w := range ws {
		w(topic, msg)
	}
}

// Watch calls fn with every message another process publishes. The
// subscription reconnects by itself after Redis comes back; what was
// published meanwhile is lost, so a process drops everything it caches
// when it reconnects (topic "all").
func (s *redisStore) Watch(fn func(topic, msg string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, fn)
	if s.pubsub != nil {
		return
	}
	s.pubsub = s.c.Subscribe(context.Background(), redisEvents)
	go s.listen(s.pubsub)
}

func (s *redisStore) listen(ps *redis.PubSub) {
	subscribed := 0
	for m := range ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(5 * time.Second)) {
		switch m := m.(type) {
		case *redis.Subscription:
			if subscribed++; subscribed > 1 {
				// Subscribed again: messages may have been lost.
				s.dispatch("all", "")
			}
		case *redis.Message:
			num, rest, _ := strings.Cut(m.Payload, "\x00")
			origin, rest, _ := strings.Cut(rest, "\x00")
			if origin != s.origin {
				topic, msg, _ := strings.Cut(rest, "\x00")
				s.dispatch(topic, msg)
			}
			if v, err := strconv.ParseInt(num, 10, 64); err == nil {
				s.advance(v)
			}
		}
	}
}

func sortRemovals(list []Removal) {
	slices.SortFunc(list, func(a, b Removal) int { return strings.Compare(a.ID, b.ID) })
}
