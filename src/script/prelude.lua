-- The sandbox every script runs in, built once when the interpreter starts.
--
-- Redis patches its Lua to give tables a "readonly" bit; respd runs stock Lua 5.1, so the
-- same protections are built from proxies: a protected table is an empty table whose
-- metatable reads through to the real one and refuses every write. Scripts see only
-- proxies (the globals, `redis`, `string`, `cjson`, ...). `rawset` and `setmetatable`
-- refuse proxies too, and `getmetatable` of a proxy gives a frozen table.
--
-- Called with the table of Rust primitives; returns the tables the engine keeps.

local prim = ...
local G = _G
local error, type, tostring, tonumber, select, rawget, rawset =
    error, type, tostring, tonumber, select, rawget, rawset
local setmetatable, getmetatable, real_pcall, real_xpcall =
    setmetatable, getmetatable, pcall, xpcall
local real_loadstring, real_load, setfenv = loadstring, load, setfenv
local floor = math.floor

local READONLY = 'Attempt to modify a readonly table'
-- Protected proxy -> the table it shows (or true for one that shows nothing).
local protected = setmetatable({}, { __mode = 'k' })
local real_next, real_ipairs = next, ipairs

local function readonly_error()
  error(READONLY, 2)
end

-- What `getmetatable` answers for a protected table: a table that refuses writes.
local frozen = setmetatable({}, { __newindex = readonly_error, __metatable = false })
protected[frozen] = {}

local function readonly(t)
  local proxy = setmetatable({}, {
    __index = t,
    __newindex = readonly_error,
    __metatable = frozen,
  })
  protected[proxy] = t
  return proxy
end

-- Iterating a protected table walks the table it shows.
G.next = function(t, k)
  local shown = protected[t]
  if shown then return real_next(shown, k) end
  return real_next(t, k)
end
G.pairs = function(t)
  return G.next, t, nil
end
G.ipairs = function(t)
  local shown = protected[t]
  if shown then return real_ipairs(shown) end
  return real_ipairs(t)
end

-- The raw versions refuse protected tables as Redis's readonly tables refuse them.
G.rawset = function(t, k, v)
  if protected[t] then error(READONLY, 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, m)
  if protected[t] then error(READONLY, 0) end
  return setmetatable(t, m)
end

-- Redis 7 raises errors as tables ({err = 'CODE message'}); pcall hands the script the
-- message alone, as before. A killed script cannot be caught: the error goes on.
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  if prim.killed() then error((...), 0) end
  local e = ...
  local text = prim.error_text(e)
  if text then return false, text end
  if type(e) == 'table' then
    local m = rawget(e, 'err')
    if type(m) == 'string' or type(m) == 'number' then e = m end
  end
  return false, e
end
G.pcall = function(...)
  return pcall_result(real_pcall(...))
end
G.xpcall = function(f, handler)
  return real_xpcall(f, function(e)
    if prim.killed() then return e end
    return handler(e)
  end)
end

-- No binary chunks: `loadstring(string.dump(f))` gives nil, as in Redis 7.0.
local env_of_loaded
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = real_loadstring(s, name)
  if f then setfenv(f, env_of_loaded) end
  return f, e
end
G.load = function(f, name)
  local chunk, e = real_load(f, name)
  if chunk then
    local info = chunk
    setfenv(info, env_of_loaded)
  end
  return chunk, e
end

-- The redis table. Its functions that raise errors are Lua code run through a Rust
-- function (`prim.guard`): they return FAIL and the message, and the Rust function raises
-- it. Being a C function, it keeps the calling script's frame on the stack even in
-- `return redis.log()` (a tail call), so the error names the script's line as in Redis.
local FAIL = prim.fail
local guard = prim.guard
local function raise(e)
  error(e)
end

local function error_table(msg)
  return { err = 'ERR ' .. msg }
end

local redis = {}
redis.call = prim.call_raising
redis.pcall = prim.call_plain
redis.sha1hex = guard(function(...)
  if select('#', ...) ~= 1 then return FAIL, 'ERR wrong number of arguments' end
  return prim.sha1hex((...))
end)
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  local space = e:find(' ', 1, true)
  local code, msg
  if space then
    code, msg = e:sub(2, space - 1), e:sub(space + 1)
  else
    code, msg = 'ERR', e:sub(2)
  end
  msg = msg:gsub('[\r\n]+$', '')
  return { err = code .. ' ' .. msg }
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  return { ok = s }
end
redis.log = guard(function(...)
  local n = select('#', ...)
  if n < 2 then return FAIL, 'ERR redis.log() requires two arguments or more.' end
  local level = ...
  if tonumber(level) == nil then
    return FAIL, 'ERR First argument must be a number (log level).'
  end
  level = tonumber(level)
  if level < 0 or level > 3 then return FAIL, 'ERR Invalid debug level.' end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  prim.log(floor(level), table.concat(parts, ' '))
end)
redis.setresp = guard(function(...)
  if not prim.running() then
    return FAIL, 'ERR redis.setresp can only be called inside a script invocation'
  end
  if select('#', ...) ~= 1 then return FAIL, 'ERR redis.setresp() requires one argument.' end
  local resp = tonumber((...))
  if resp ~= 2 and resp ~= 3 then return FAIL, 'ERR RESP version must be 2 or 3.' end
  prim.setresp(resp)
end)
redis.set_repl = guard(function(...)
  if not prim.running() then
    return FAIL, 'ERR redis.set_repl can only be called inside a script invocation'
  end
  if select('#', ...) ~= 1 then return FAIL, 'ERR redis.set_repl() requires two arguments.' end
  local flags = tonumber((...)) or 0
  if flags ~= floor(flags) or flags < 0 or flags > 3 then
    return FAIL, 'ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'
  end
  prim.set_repl(flags)
end)
redis.replicate_commands = function()
  return true
end
redis.breakpoint = function()
  return false
end
redis.debug = function() end
redis.acl_check_cmd = guard(function(...)
  local allowed, failed = prim.acl_check(...)
  if failed then return FAIL, allowed.err end
  return allowed
end)
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = prim.version
redis.REDIS_VERSION_NUM = prim.version_num

-- math.random follows Redis's own generator, the same sequence on every platform.
local math_impl = {}
for k, v in pairs(math) do math_impl[k] = v end
math_impl.random = function(...)
  local n = select('#', ...)
  local r = prim.random()
  if n == 0 then return r end
  if n == 1 then
    local u = floor(tonumber((...)) or error("bad argument #1 to 'random' (number expected)"))
    if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  end
  if n == 2 then
    local l, u = ...
    l = floor(tonumber(l) or error("bad argument #1 to 'random' (number expected)"))
    u = floor(tonumber(u) or error("bad argument #2 to 'random' (number expected)"))
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 2)
end
math_impl.randomseed = function(seed)
  prim.randomseed(floor(tonumber(seed) or error("bad argument #1 to 'randomseed' (number expected)")))
end

-- Globals that do not exist raise an error instead of reading as nil.
local function missing_global(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end

-- The real globals: libraries as read-only proxies, nothing unsafe.
rawset(G, 'print', nil)
rawset(G, 'dofile', nil)
rawset(G, 'loadfile', nil)
rawset(G, 'module', nil)
rawset(G, 'require', nil)
rawset(G, 'package', nil)
rawset(G, 'getfenv', nil)
rawset(G, 'setfenv', nil)
rawset(G, 'newproxy', nil)
rawset(G, '__redis__err__handler', prim.error_handler)
rawset(G, 'redis', readonly(redis))
rawset(G, 'math', readonly(math_impl))
-- coroutine.create and coroutine.wrap make threads that SCRIPT KILL reaches (see
-- prim.coroutine_create).
local coroutine_impl = {}
for k, v in pairs(coroutine) do coroutine_impl[k] = v end
local create, resume = prim.coroutine_create, coroutine.resume
coroutine_impl.create = create
-- A kill inside a coroutine ends the whole script, not just the coroutine.
local function resumed(ok, ...)
  if not ok and prim.killed() then error((...), 0) end
  return ok, ...
end
coroutine_impl.resume = function(co, ...)
  return resumed(resume(co, ...))
end
local function wrapped_result(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'string' and not prim.killed() then error(e, 2) end
    error(e, 0)
  end
  return ...
end
coroutine_impl.wrap = function(f)
  local co = create(f)
  return function(...)
    return wrapped_result(resume(co, ...))
  end
end
rawset(G, 'coroutine', readonly(coroutine_impl))
for _, name in ipairs({ 'string', 'table' }) do
  rawset(G, name, readonly(rawget(G, name)))
end
for name, lib in pairs(prim.libraries) do
  rawset(G, name, readonly(lib))
end
setmetatable(G, { __index = missing_global, __newindex = readonly_error, __metatable = frozen })

-- The environment of EVAL scripts: reads go to the globals, writes are refused.
local eval_env = setmetatable({}, { __index = G, __newindex = readonly_error, __metatable = frozen })
protected[eval_env] = G
rawset(G, '_G', eval_env)
env_of_loaded = eval_env

-- What a library's code sees while FUNCTION LOAD runs it: only redis.register_function,
-- redis.log and the version fields.
local load_redis = {
  register_function = guard(function(...)
    local e = prim.register_function(...)
    if e then return FAIL, e.err end
  end),
  log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = prim.version,
  REDIS_VERSION_NUM = prim.version_num,
}
setmetatable(load_redis, { __index = missing_global })
local load_api = setmetatable({ redis = readonly(load_redis) },
  { __index = missing_global, __newindex = readonly_error, __metatable = frozen })

-- The environment of functions: its metatable reads the load API while FUNCTION LOAD runs
-- the library, and the globals when a function is called.
local function_env_meta = { __index = load_api, __newindex = readonly_error, __metatable = frozen }
local function_env = setmetatable({}, function_env_meta)
protected[function_env] = G

local function loading(on)
  function_env_meta.__index = on and load_api or G
end

-- Runs a script: `f` with `keys` and `args` (functions) or none (EVAL), under `handler`.
local function run(f, handler, with_args, keys, args)
  if with_args then
    return real_xpcall(function() return f(keys, args) end, handler)
  end
  return real_xpcall(f, handler)
end

local function set_keys_args(keys, args)
  rawset(G, 'KEYS', keys)
  rawset(G, 'ARGV', args)
end

return {
  eval_env = eval_env,
  function_env = function_env,
  loading = loading,
  run = run,
  set_keys_args = set_keys_args,
}
