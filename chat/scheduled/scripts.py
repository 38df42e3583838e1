"""The Lua scripts behind chat.scheduled.store: each state change of a scheduled message, atomic.

Keys and prefixes come in as KEYS/ARGV from chat.scheduled.store, which owns their names.
"""

from __future__ import annotations

# Redis's clock in epoch ms (one clock for every scheduler), and integers printed without an
# exponent (Lua numbers are doubles).
PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
"""

# KEYS: ids, due. ARGV: room, author, text, client_id ('' for none), requested due ms
# ('' for now), msg prefix, by prefix, cid prefix, wake channel, account ('' for a guest),
# holder (chat.identity.owners: whose list it is on, who may cancel it).
SCHEDULE = (
    PRELUDE
    + """
local room, author, text, cid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
local cid_key = ARGV[8] .. room .. ':' .. cid
if cid ~= '' then
  local existing = redis.call('GET', cid_key)
  if existing then
    local due = redis.call('HGET', ARGV[6] .. existing, 'due')
    if due then return {'existing', existing, due, int(now)} end
  end
end
local due = now
if ARGV[5] ~= '' and tonumber(ARGV[5]) > now then due = tonumber(ARGV[5]) end
local member = string.format('%016d', redis.call('INCR', KEYS[1]))
redis.call('HSET', ARGV[6] .. member, 'room', room, 'author', author, 'text', text,
  'client_id', cid, 'due', int(due), 'created', int(now), 'attempts', '0', 'account', ARGV[10],
  'holder', ARGV[11])
redis.call('ZADD', KEYS[2], int(due), member)
redis.call('ZADD', ARGV[7] .. room .. ':' .. ARGV[11], int(due), member)
if cid ~= '' then redis.call('SET', cid_key, member) end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)
if head[1] == member then redis.call('PUBLISH', ARGV[9], int(due)) end
return {'new', member, int(due), int(now)}
"""
)

# Claim one message: an expired lease first (its claimer died), else the earliest due one
# (ties by member, i.e. scheduling order). A first claim takes the room's next seq right
# here, so seqs follow due order whichever scheduler claims what; on a cluster (ARGV[6]
# '0') the counter is in another slot, so it answers with no seq and the caller takes one.
# KEYS: due, leases. ARGV: lease ms, msg prefix, seq counter prefix, owner, seq counter
# suffix, '1' to take the seq here.
CLAIM = (
    PRELUDE
    + """
local now = now_ms()
local member = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)[1]
if not member then
  member = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)[1]
end
if not member then
  local due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or ''
  local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or ''
  return {'idle', int(now), due, lease}
end
local key = ARGV[2] .. member
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
  return {'gone', member}
end
local seq = redis.call('HGET', key, 'seq') or ''
if seq == '' and ARGV[6] == '1' then
  local room = redis.call('HGET', key, 'room')
  local counter = ARGV[3] .. room .. ARGV[5]
  if redis.call('EXISTS', counter) == 0 then
    -- Seeding from the store alone could hand out a seq a claimed, not yet stored, message holds.
    local floor = 0
    for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      local r = redis.call('HMGET', ARGV[2] .. m, 'room', 'seq')
      if r[1] == room and r[2] then floor = math.max(floor, tonumber(r[2])) end
    end
    return {'seed', room, int(floor)}
  end
  seq = redis.call('INCR', counter)
  redis.call('HSET', key, 'seq', seq)
end
redis.call('ZREM', KEYS[1], member)
redis.call('ZADD', KEYS[2], int(now + tonumber(ARGV[1])), member)
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'owner', ARGV[4])
local f = redis.call('HMGET', key, 'room', 'author', 'text', 'due', 'account')
return {'claimed', member, f[1], f[2], f[3], tostring(seq), f[4], tostring(attempts), f[5] or ''}
"""
)

# A seq taken outside CLAIM (on a cluster): set it unless the message has one; the one kept.
# KEYS: the message's hash. ARGV: seq.
SET_SEQ = """
redis.call('HSETNX', KEYS[1], 'seq', ARGV[1])
return redis.call('HGET', KEYS[1], 'seq')
"""

# KEYS: leases. ARGV: member, msg prefix, by prefix, cid prefix, message id, keep seconds.
FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
local key = ARGV[2] .. ARGV[1]
local f = redis.call('HMGET', key, 'room', 'author', 'client_id', 'holder')
if not f[1] then return 0 end
redis.call('ZREM', ARGV[3] .. f[1] .. ':' .. (f[4] or f[2]), ARGV[1])
redis.call('HSET', key, 'state', 'delivered', 'message_id', ARGV[5])
redis.call('EXPIRE', key, ARGV[6])
if f[3] ~= '' then redis.call('EXPIRE', ARGV[4] .. f[1] .. ':' .. f[3], ARGV[6]) end
return 1
"""

# Put a claim whose delivery failed back for a retry after ARGV[2] ms (it keeps its seq).
# KEYS: leases. ARGV: member, delay ms.
RELEASE = (
    PRELUDE
    + """
return redis.call('ZADD', KEYS[1], 'XX', int(now_ms() + tonumber(ARGV[2])), ARGV[1])
"""
)

# Cancel only while the message still waits in `due`: once claimed it is being delivered.
# KEYS: due. ARGV: member, room, holder, msg prefix, by prefix, cid prefix. One scheduled
# before holders were kept is its author's.
CANCEL = """
local key = ARGV[4] .. ARGV[1]
local f = redis.call('HMGET', key, 'room', 'author', 'client_id', 'holder')
local holder = f[4] or f[2]
if f[1] ~= ARGV[2] or holder ~= ARGV[3] then return 'not_found' end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 'too_late' end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', ARGV[5] .. f[1] .. ':' .. holder, ARGV[1])
redis.call('DEL', key)
if f[3] ~= '' then redis.call('DEL', ARGV[6] .. f[1] .. ':' .. f[3]) end
return 'cancelled'
"""
