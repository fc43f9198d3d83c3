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
# ARGV: op ("view" | "report" | "probe"), now, consecutive_failures, error_rate, min_requests, window_s,
#       open_s, half_open_probes, ttl_s; for "report" then triplets (ok 1|0, now, tenant or "") in order
# Returns: {state, consecutive, window_requests, window_failures, retry_in_s, probe_granted (0|1)}
BREAKER = """
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local max_consec, error_rate, min_requests = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local window, open_s, max_probes, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local N = 10
local raw = redis.call('HGETALL', key)
local h, wit = {}, {}
for i = 1, #raw, 2 do
  local f = raw[i]
  if string.sub(f, 1, 2) == 'w:' then
    local o, x = string.match(raw[i + 1], '^(.-),(.*)$')
    wit[string.sub(f, 3)] = {tonumber(o), tonumber(x)}
  else
    h[f] = raw[i + 1]
  end
end
local state = h.state or 'closed'
local opened_at, consec = tonumber(h.opened_at or '0'), tonumber(h.consec or '0')
local probes, probe_at = tonumber(h.probes or '0'), tonumber(h.probe_at or '0')
local ring = {}
for i = 0, N - 1 do
  ring[i] = {tonumber(h['t' .. i] or '-1'), tonumber(h['o' .. i] or '0'), tonumber(h['f' .. i] or '0')}
end
local function settle(t)
  if state == 'open' and t - opened_at >= open_s then state = 'half_open'; probes = 0; probe_at = 0 end
end
local function reset_counts()
  consec = 0; probes = 0; probe_at = 0
  for i = 0, N - 1 do ring[i] = {-1, 0, 0} end
end
local function counts(t)
  local epoch = math.floor(t / (window / N))
  local req, fail = 0, 0
  for i = 0, N - 1 do
    local b = ring[i]
    if b[1] > epoch - N and b[1] <= epoch then req = req + b[2] + b[3]; fail = fail + b[3] end
  end
  return req, fail
end
local dels = {}
local function witness(tenant, ok, t)
  local w = wit[tenant] or {-1e300, -1e300}
  if ok then w = {t, w[2]} else w = {w[1], t} end
  wit[tenant] = w
  for name, v in pairs(wit) do
    if math.max(v[1], v[2]) <= t - window then wit[name] = nil; table.insert(dels, 'w:' .. name) end
  end
end
local function vetoed(tenant, t)
  if tenant == '' then return false end
  local healthy, failing = false, false
  for name, v in pairs(wit) do
    if name ~= tenant then
      if v[1] > t - window then healthy = true end
      if v[2] > t - window then failing = true end
    end
  end
  return healthy and not failing
end
settle(now)
local dirty, granted = false, 0
if op == 'report' then
  for j = 10, #ARGV, 3 do
    local ok, t, tenant = ARGV[j] == '1', tonumber(ARGV[j + 1]), ARGV[j + 2]
    settle(t)
    if tenant ~= '' then witness(tenant, ok, t) end
    if state == 'half_open' then
      reset_counts()
      if ok then state = 'closed' else state = 'open'; opened_at = t end
    elseif state == 'closed' then
      local epoch = math.floor(t / (window / N))
      local slot = epoch % N
      local b = ring[slot]
      if b[1] < epoch then b = {epoch, 0, 0} end
      if b[1] == epoch then
        if ok then b[2] = b[2] + 1 else b[3] = b[3] + 1 end
      end
      ring[slot] = b
      if ok then consec = 0 else consec = consec + 1 end
      local req, fail = counts(t)
      if not ok and (consec >= max_consec or (req >= min_requests and fail / req > error_rate)) and not vetoed(tenant, t) then
        reset_counts(); state = 'open'; opened_at = t
      end
    end
    dirty = true
  end
  settle(now)
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
  for name, v in pairs(wit) do
    table.insert(f, 'w:' .. name); table.insert(f, string.format('%.17g,%.17g', v[1], v[2]))
  end
  if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  redis.call('HSET', key, unpack(f))
  redis.call('EXPIRE', key, ttl)
end
local req, fail = counts(now)
local retry = 0
if state == 'open' then retry = math.max(opened_at + open_s - now, 0) end
return {state, consec, req, fail, string.format('%.17g', retry), granted}
"""

# One request's admission, atomically: the twin of algo.TenantLimits.admit.
# KEYS: meta (hash: rt/rs rpm total and seq, tt/ts tokens, lu/ln leased usd and count, u:<lease> usd),
#       rpm log, tpm log (zsets of "seq:units" by time), leases (zset of lease ids by expiry),
#       spend of the UTC day, spend of the UTC month
# ARGV: now, window_s, rpm, tpm, tokens, max_concurrent, lease, lease_s, usd_day, usd_month, usd,
#       downgrade (1|0), ttl_ms (limits given as 0 are not set)
# Returns one string (one line to parse, not twelve), "|"-separated: allowed, refused, rpm_remaining,
#   tpm_remaining, rpm_reset, tpm_reset, retry, in_flight, budget_left ("" without a budget), downgraded,
#   usd reserved, tokens reserved
ADMIT = """
local meta, rlog, tlog, leases, sday, smonth = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local rpm, tpm, tokens, maxc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local lease, lease_s = ARGV[7], tonumber(ARGV[8])
local cap_d, cap_m, usd, downgrade = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12] == '1'
local ttl = tonumber(ARGV[13])
local cutoff = now - window
local m = redis.call('HMGET', meta, 'rt', 'rs', 'tt', 'ts', 'lu', 'ln')
local rt, rs, tt, ts = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(m[3] or '0'), tonumber(m[4] or '0')
local lu, ln = tonumber(m[5] or '0'), tonumber(m[6] or '0')
local function units(member) return tonumber(string.match(member, ':(-?%d+)$')) end
local function prune(log, total)
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  if #expired > 0 then
    for i = 1, #expired do total = total - units(expired[i]) end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
    if redis.call('ZCARD', log) == 0 then total = 0 end
  end
  return total
end
local function retry_for(log, used, cost, limit)
  if cost > limit then return window end
  local need, freed, start = used + cost - limit, 0, 0
  while true do
    local chunk = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
    if #chunk == 0 then return window end
    for i = 1, #chunk, 2 do
      freed = freed + units(chunk[i])
      if freed >= need then return math.max(tonumber(chunk[i + 1]) + window - now, 0) end
    end
    start = start + 100
  end
end
local function reset_of(log)
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  if #newest == 0 then return 0 end
  return math.max(tonumber(newest[2]) + window - now, 0)
end
local refused, retry = '', 0
local r_used, t_used = 0, 0
if rpm > 0 then
  rt = prune(rlog, rt); r_used = math.max(rt, 0)
  if r_used + 1 > rpm then refused = 'requests'; retry = retry_for(rlog, r_used, 1, rpm) end
end
if tokens < 1 then tokens = 1 end
if tpm > 0 then
  if tokens > tpm then tokens = tpm end
  tt = prune(tlog, tt); t_used = math.max(tt, 0)
  if refused == '' and t_used + tokens > tpm then refused = 'tokens'; retry = retry_for(tlog, t_used, tokens, tpm) end
else
  tokens = 0
end
local gone = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
if #gone > 0 then
  local fields = {}
  for i = 1, #gone do table.insert(fields, 'u:' .. gone[i]) end
  local amounts = redis.call('HMGET', meta, unpack(fields))
  for i = 1, #gone do lu = lu - tonumber(amounts[i] or '0'); ln = ln - 1 end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  redis.call('HDEL', meta, unpack(fields))
end
if ln <= 0 then ln = 0; lu = 0 end
if refused == '' and maxc > 0 and ln >= maxc then refused = 'concurrency'; retry = 1 end
local left = nil
if cap_d > 0 or cap_m > 0 then
  local sp = redis.call('MGET', sday, smonth)
  if cap_d > 0 then left = cap_d - tonumber(sp[1] or '0') - lu end
  if cap_m > 0 then
    local l2 = cap_m - tonumber(sp[2] or '0') - lu
    if left == nil or l2 < left then left = l2 end
  end
end
local downgraded = 0
if refused == '' and left ~= nil and left <= 0 then
  if downgrade then downgraded = 1 else refused = 'budget'; retry = 3600 end
end
local left_s = ''
if left ~= nil then left_s = string.format('%.17g', left) end
if refused ~= '' then
  local rr, tr = 0, 0
  if rpm > 0 then rr = reset_of(rlog) end
  if tpm > 0 then tr = reset_of(tlog) end
  return table.concat({0, refused, math.max(rpm - r_used, 0), math.max(tpm - t_used, 0), string.format('%.17g', rr),
          string.format('%.17g', tr), string.format('%.17g', retry), ln, left_s, 0, '0', 0}, '|')
end
if left == nil or downgraded == 1 then usd = 0 end
local f = {}
if rpm > 0 then
  rs = rs + 1; rt = rt + 1
  redis.call('ZADD', rlog, now, rs .. ':1'); redis.call('PEXPIRE', rlog, ttl)
  table.insert(f, 'rt'); table.insert(f, rt); table.insert(f, 'rs'); table.insert(f, rs)
end
if tpm > 0 then
  ts = ts + 1; tt = tt + tokens
  redis.call('ZADD', tlog, now, ts .. ':' .. tokens); redis.call('PEXPIRE', tlog, ttl)
  table.insert(f, 'tt'); table.insert(f, tt); table.insert(f, 'ts'); table.insert(f, ts)
end
ln = ln + 1; lu = lu + usd
redis.call('ZADD', leases, now + lease_s, lease); redis.call('PEXPIRE', leases, ttl)
table.insert(f, 'ln'); table.insert(f, ln); table.insert(f, 'lu'); table.insert(f, string.format('%.17g', lu))
table.insert(f, 'u:' .. lease); table.insert(f, string.format('%.17g', usd))
redis.call('HSET', meta, unpack(f)); redis.call('PEXPIRE', meta, ttl)
return table.concat({1, '', math.max(rpm - r_used - 1, 0), math.max(tpm - t_used - tokens, 0), string.format('%.17g', window),
        string.format('%.17g', window), '0', ln, left_s, downgraded, string.format('%.17g', usd), tokens}, '|')
"""

# The end of many admitted requests of one tenant: the twin of algo.TenantLimits.settle (plus spend).
# KEYS: meta, tpm log, leases, spend of the UTC day, spend of the UTC month
# ARGV: now, window_s, day_ttl_s, month_ttl_s, usd spent, number of leases L, L lease ids,
#       then pairs (at, token delta)
SETTLE = """
local meta, tlog, leases, sday, smonth = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local usd, nl = tonumber(ARGV[5]), tonumber(ARGV[6])
local live = {}
if redis.call('EXISTS', meta) == 1 then
  local fields = {'lu', 'ln', 'tt', 'ts'}
  for i = 1, nl do table.insert(fields, 'u:' .. ARGV[6 + i]) end
  local m = redis.call('HMGET', meta, unpack(fields))
  local lu, ln, tt, ts = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(m[3] or '0'), tonumber(m[4] or '0')
  local live_f = {}
  for i = 1, nl do
    if m[4 + i] then
      lu = lu - tonumber(m[4 + i]); ln = ln - 1
      table.insert(live, ARGV[6 + i]); table.insert(live_f, 'u:' .. ARGV[6 + i])
    end
  end
  if ln <= 0 then ln = 0; lu = 0 end
  local f = {}
  if #live > 0 then
    redis.call('ZREM', leases, unpack(live))
    redis.call('HDEL', meta, unpack(live_f))
    table.insert(f, 'lu'); table.insert(f, string.format('%.17g', lu)); table.insert(f, 'ln'); table.insert(f, ln)
  end
  local adds = {}
  for j = 7 + nl, #ARGV, 2 do
    local at, delta = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
    if delta ~= 0 and at > now - window then
      ts = ts + 1; tt = tt + delta
      table.insert(adds, at); table.insert(adds, ts .. ':' .. delta)
    end
  end
  if #adds > 0 and redis.call('EXISTS', tlog) == 1 then
    redis.call('ZADD', tlog, unpack(adds))
    table.insert(f, 'tt'); table.insert(f, tt); table.insert(f, 'ts'); table.insert(f, ts)
  end
  if #f > 0 then redis.call('HSET', meta, unpack(f)) end
end
if usd ~= 0 then
  redis.call('INCRBYFLOAT', sday, ARGV[5]); redis.call('EXPIRE', sday, tonumber(ARGV[3]))
  redis.call('INCRBYFLOAT', smonth, ARGV[5]); redis.call('EXPIRE', smonth, tonumber(ARGV[4]))
end
return #live
"""
