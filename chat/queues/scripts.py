"""Lua scripts of the stream core (chat.queues.streams): each touches one queue's keys only.

Every key a script names shares the queue's hash tag, so on Redis Cluster each script runs
on one slot. KEYS are always, in this order: stream, delayed, later, inflight, receipts,
receives, dead (then the script's own extras). Times are Redis's clock (TIME), in ms.
"""

from __future__ import annotations

from chat.infra.lua import Lua

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Forget an entry's in-flight state (it was acked, dead-lettered, requeued or vanished).
_SETTLE = """
local function settle(entry)
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  redis.call('XDEL', KEYS[1], entry)
  redis.call('ZREM', KEYS[4], entry)
  redis.call('HDEL', KEYS[5], entry)
end
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
"""

# KEYS[8]: meta, then the client-id keys. ARGV: group, client-id ttl s, require meta (1/0),
# then per message: id, body, delay_ms, index in KEYS of its client-id key (0: none).
# Returns {id, created (1/0)} per message, or {{'', -1}} when the queue does not exist.
_PRODUCE_SOURCE = (
    _NOW
    + """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[8]) == 0 then return {{'', -1}} end
local out = {}
for i = 4, #ARGV, 4 do
  local id, body, delay, cid = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local earlier = false
  if cid > 0 then
    earlier = redis.call('GET', KEYS[cid])
    if not earlier then redis.call('SET', KEYS[cid], id, 'EX', tonumber(ARGV[2])) end
  end
  if earlier then
    out[#out + 1] = {earlier, 0}
  else
    if redis.call('HEXISTS', KEYS[6], id) == 0 then redis.call('HSET', KEYS[6], id, 0) end
    if delay > 0 then
      redis.call('HSET', KEYS[3], id, cjson.encode({b = body, t = tostring(now)}))
      redis.call('ZADD', KEYS[2], now + delay, id)
    else
      redis.call('XADD', KEYS[1], '*', 'm', id, 'b', body, 't', tostring(now))
    end
    out[#out + 1] = {id, 1}
  end
end
return out
"""
)

# ARGV: group, consumer, count, visibility_ms, max_receives (0 = unlimited), token.
# Returns {deliveries, wake_ms}; a delivery is {entry, id, body, enqueued_ms, receives,
# token}; wake_ms is when a delayed or in-flight message next becomes ready (-1: none).
_RECEIVE_SOURCE = (
    _NOW
    + _SETTLE
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  local held = redis.call('HGET', KEYS[3], id)
  if held then
    local data = cjson.decode(held)
    redis.call('XADD', KEYS[1], '*', 'm', id, 'b', data.b, 't', data.t)
  end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
local want = tonumber(ARGV[3])
local deadline = now + tonumber(ARGV[4])
local max = tonumber(ARGV[5])
local out = {}
local function deliver(entry, fields)
  local id = field(fields, 'm')
  local receives = tonumber(redis.call('HGET', KEYS[6], id) or '0')
  if max > 0 and receives >= max then
    redis.call('XADD', KEYS[7], 'MAXLEN', '~', 10000, '*', 'm', id, 'b', field(fields, 'b'),
      't', field(fields, 't'), 'n', receives, 'why', 'max_receives')
    redis.call('HDEL', KEYS[6], id)
    settle(entry)
    return
  end
  receives = redis.call('HINCRBY', KEYS[6], id, 1)
  local token = ARGV[6] .. tostring(#out + 1)
  redis.call('ZADD', KEYS[4], deadline, entry)
  redis.call('HSET', KEYS[5], entry, token)
  out[#out + 1] = {entry, id, field(fields, 'b'), field(fields, 't'), receives, token}
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, want)
for _, entry in ipairs(expired) do
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry)
  if #claimed == 0 or not claimed[1][2] then
    settle(entry)
  else
    deliver(entry, claimed[1][2])
  end
end
if #out < want then
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want - #out,
    'STREAMS', KEYS[1], '>')
  if reply then
    for _, row in ipairs(reply[1][2]) do
      if row[2] then deliver(row[1], row[2]) else settle(row[1]) end
    end
  end
end
local wake = -1
for _, key in ipairs({KEYS[2], KEYS[4]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local at = math.max(0, tonumber(first[2]) - now)
    if wake < 0 or at < wake then wake = at end
  end
end
return {out, wake}
"""
)

# ARGV: group, then per message: entry, token, id. Returns per message 1 acked, 0 stale
# receipt, -1 no such message.
_ACK_SOURCE = (
    _SETTLE
    + """
local out = {}
for i = 2, #ARGV, 3 do
  local entry, token, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local outcome = 1
  if redis.call('HEXISTS', KEYS[6], id) == 0 then
    outcome = -1
  elseif redis.call('HGET', KEYS[5], entry) ~= token then
    outcome = 0
  else
    local row = redis.call('XRANGE', KEYS[1], entry, entry)
    if #row == 0 or field(row[1][2], 'm') ~= id then outcome = 0 end
  end
  if outcome == 1 then
    settle(entry)
    redis.call('HDEL', KEYS[6], id)
  end
  out[#out + 1] = outcome
end
return out
"""
)

# ARGV: group, entry, token, id, visibility_ms. Returns as ACK; 1 when extended.
_EXTEND_SOURCE = (
    _NOW
    + """
if redis.call('HEXISTS', KEYS[6], ARGV[4]) == 0 then return -1 end
if redis.call('HGET', KEYS[5], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('ZADD', KEYS[4], 'XX', now + tonumber(ARGV[5]), ARGV[2])
return 1
"""
)

# ARGV: group, entry, token, id, delay_ms, reason ('' = requeue, else dead-letter why),
# receives to record ('' = as counted).
# Hands a delivery back (again in delay_ms) or to the dead letters; 0 if the receipt is stale.
_SETTLE_SOURCE = (
    _NOW
    + _SETTLE
    + """
if redis.call('HGET', KEYS[5], ARGV[2]) ~= ARGV[3] then return 0 end
local row = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #row == 0 then return 0 end
local fields = row[1][2]
settle(ARGV[2])
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', 10000, '*', 'm', ARGV[4], 'b', field(fields, 'b'),
    't', field(fields, 't'), 'n', ARGV[7] ~= '' and ARGV[7] or redis.call('HGET', KEYS[6],
    ARGV[4]) or '0', 'why', ARGV[6])
  redis.call('HDEL', KEYS[6], ARGV[4])
  return 1
end
local delay = tonumber(ARGV[5])
if delay > 0 then
  local held = cjson.encode({b = field(fields, 'b'), t = field(fields, 't')})
  redis.call('HSET', KEYS[3], ARGV[4], held)
  redis.call('ZADD', KEYS[2], now + delay, ARGV[4])
else
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[4], 'b', field(fields, 'b'), 't', field(fields, 't'))
end
return 1
"""
)

# ARGV: count. Moves the oldest dead letters back into the stream with their receives reset.
_REDRIVE_SOURCE = """
local rows = redis.call('XRANGE', KEYS[7], '-', '+', 'COUNT', tonumber(ARGV[1]))
for _, row in ipairs(rows) do
  local f = row[2]
  local id, body, t = nil, nil, nil
  for i = 1, #f, 2 do
    if f[i] == 'm' then id = f[i + 1] elseif f[i] == 'b' then body = f[i + 1]
    elseif f[i] == 't' then t = f[i + 1] end
  end
  redis.call('HSET', KEYS[6], id, 0)
  redis.call('XADD', KEYS[1], '*', 'm', id, 'b', body, 't', t)
  redis.call('XDEL', KEYS[7], row[1])
end
return #rows
"""

# Returns {stream length, in flight, delayed, dead, oldest enqueued ms or -1, now}.
_COUNTS_SOURCE = (
    _NOW
    + """
local length = redis.call('XLEN', KEYS[1])
local inflight = redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf')
local oldest = -1
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then
  local f = first[1][2]
  for i = 1, #f, 2 do if f[i] == 't' then oldest = tonumber(f[i + 1]) end end
end
local later = redis.call('ZRANGE', KEYS[2], 0, 0)
if #later > 0 then
  local held = redis.call('HGET', KEYS[3], later[1])
  if held then
    local t = tonumber(cjson.decode(held).t)
    if oldest < 0 or t < oldest then oldest = t end
  end
end
return {length, inflight, redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[7]), oldest, now}
"""
)

PRODUCE = Lua(_PRODUCE_SOURCE)
RECEIVE = Lua(_RECEIVE_SOURCE)
ACK = Lua(_ACK_SOURCE)
EXTEND = Lua(_EXTEND_SOURCE)
SETTLE = Lua(_SETTLE_SOURCE)
REDRIVE = Lua(_REDRIVE_SOURCE)
COUNTS = Lua(_COUNTS_SOURCE)
