"""Lua scripts run by RedisStore: each is one atomic step, so replicas sharing a Redis agree exactly.

They are the twins of the Python algorithms in algo.py (read those first, they are easier). redis-py's
register_script runs them by EVALSHA and loads them on NOSCRIPT. Times come from the caller (ARGV) so
behaviour is testable and identical to MemoryStore; floats are returned as strings because Redis
truncates Lua numbers to integers.
"""

from __future__ import annotations

# KEYS: log (zset of "seq:units" scored by time), meta (hash: total, seq)
# ARGV: mode ("hit" | "adjust"), limit, window_s, units (cost or delta), now, at (adjust only)
# Returns: {allowed (0|1), remaining, reset_s, retry_after_s}
RATE = """
local log, meta = KEYS[1], KEYS[2]
local mode = ARGV[1]
local limit, window, units, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cutoff = now - window
local total = tonumber(redis.call('HGET', meta, 'total') or '0')
local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
if #expired > 0 then
  for i = 1, #expired do total = total - tonumber(string.match(expired[i], ':(-?%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
end
if redis.call('ZCARD', log) == 0 then total = 0 end
local used = math.max(total, 0)
local function book(at, n)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  redis.call('ZADD', log, at, seq .. ':' .. n)
  total = total + n
end
local allowed, retry = 1, 0
if mode == 'hit' then
  if units > 0 then
    if used + units > limit then allowed = 0 end
  elseif used >= limit then
    allowed = 0
  end
  if allowed == 1 and units > 0 then book(now, units) end
  if allowed == 0 then
    if units > limit then
      retry = window
    else
      local need, freed, start, found = used + units - limit, 0, 0, false
      while not found do
        local chunk = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
        if #chunk == 0 then break end
        for i = 1, #chunk, 2 do
          freed = freed + tonumber(string.match(chunk[i], ':(-?%d+)$'))
          if freed >= need then retry = math.max(tonumber(chunk[i + 1]) + window - now, 0); found = true; break end
        end
        start = start + 100
      end
      if not found then retry = window end
    end
  end
else
  local at = tonumber(ARGV[6])
  if units ~= 0 and at > cutoff then book(at, units) end
end
local reset = 0
local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
if #newest > 0 then
  reset = math.max(tonumber(newest[2]) + window - now, 0)
  redis.call('HSET', meta, 'total', total)
  local ttl = math.ceil((tonumber(newest[2]) + window - now) * 1000) + 1000
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', meta, ttl)
else
  redis.call('DEL', log, meta)
end
return {allowed, math.max(limit - math.max(total, 0), 0), tostring(reset), tostring(retry)}
"""

# KEYS: the model's breaker hash
# ARGV: op ("view" | "report" | "probe"), ok (1|0), now, consecutive_failures, error_rate, min_requests,
#       window_s, open_s, half_open_probes, ttl_s
# Returns: {state, consecutive, window_requests, window_failures, retry_in_s, probe_granted (0|1)}
BREAKER = """
local key, op, ok, now = KEYS[1], ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local max_consec, error_rate, min_requests = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, open_s, max_probes, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local N = 10
local raw = redis.call('HGETALL', key)
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local state = h.state or 'closed'
local opened_at, consec = tonumber(h.opened_at or '0'), tonumber(h.consec or '0')
local probes, probe_at = tonumber(h.probes or '0'), tonumber(h.probe_at or '0')
local ring = {}
for i = 0, N - 1 do
  ring[i] = {tonumber(h['t' .. i] or '-1'), tonumber(h['o' .. i] or '0'), tonumber(h['f' .. i] or '0')}
end
local epoch = math.floor(now / (window / N))
if state == 'open' and now - opened_at >= open_s then state = 'half_open'; probes = 0; probe_at = 0 end
local function reset_counts()
  consec = 0; probes = 0; probe_at = 0
  for i = 0, N - 1 do ring[i] = {-1, 0, 0} end
end
local function counts()
  local req, fail = 0, 0
  for i = 0, N - 1 do
    local b = ring[i]
    if b[1] > epoch - N and b[1] <= epoch then req = req + b[2] + b[3]; fail = fail + b[3] end
  end
  return req, fail
end
local dirty, granted = false, 0
if op == 'report' then
  if state == 'half_open' then
    reset_counts()
    if ok then state = 'closed' else state = 'open'; opened_at = now end
    dirty = true
  elseif state == 'closed' then
    local slot = epoch % N
    local b = ring[slot]
    if b[1] < epoch then b = {epoch, 0, 0} end
    if b[1] == epoch then
      if ok then b[2] = b[2] + 1 else b[3] = b[3] + 1 end
    end
    ring[slot] = b
    if ok then consec = 0 else consec = consec + 1 end
    local req, fail = counts()
    if not ok and (consec >= max_consec or (req >= min_requests and fail / req > error_rate)) then
      reset_counts(); state = 'open'; opened_at = now
    end
    dirty = true
  end
elseif op == 'probe' then
  if state == 'closed' then
    granted = 1
  elseif state == 'half_open' and (probes < max_probes or now - probe_at >= open_s) then
    if probes >= max_probes then probes = 1 else probes = probes + 1 end
    probe_at = now; granted = 1; dirty = true
  end
end
if dirty then
  local f = {'state', state, 'opened_at', string.format('%.17g', opened_at), 'consec', consec,
             'probes', probes, 'probe_at', string.format('%.17g', probe_at)}
  for i = 0, N - 1 do
    local b = ring[i]
    table.insert(f, 't' .. i); table.insert(f, b[1])
    table.insert(f, 'o' .. i); table.insert(f, b[2])
    table.insert(f, 'f' .. i); table.insert(f, b[3])
  end
  redis.call('HSET', key, unpack(f))
  redis.call('EXPIRE', key, ttl)
end
local req, fail = counts()
local retry = 0
if state == 'open' then retry = math.max(opened_at + open_s - now, 0) end
return {state, consec, req, fail, string.format('%.17g', retry), granted}
"""
