//! The Lua interpreter behind EVAL and FCALL: the sandbox, the `redis` API, and the
//! conversions between Lua values and RESP.
//!
//! Counterpart of Redis `script_lua.c` (the API and conversions), `eval.c` (the script
//! cache) and `function_lua.c` (libraries and `redis.register_function`). The commands
//! themselves, and what `redis.call` does on the server's side, are in
//! [`crate::cmd::scripting`]; this module only knows Lua, and reaches the server through the
//! [`Host`] the command hands it for one run.
//!
//! # Where the interpreter lives
//!
//! One interpreter per server, behind a mutex, used only by a thread that already holds the
//! keyspace write lock (the scripting commands take it for the whole script). That is what
//! Redis's single thread gives: a script is atomic, every script sees the globals and the
//! script cache that the previous one left, and SCRIPT LOAD on one connection is visible to
//! EVALSHA on every other at once. Per-worker interpreters would let scripts run side by
//! side only to then wait for the same keyspace lock, and would have to compile every
//! script once per worker; they buy nothing while scripts must be atomic.
//!
//! # The sandbox
//!
//! Redis runs a Lua 5.1 patched with read-only tables. respd runs stock Lua 5.1 (through
//! the `mlua` crate) and builds the same protections from proxy tables in
//! `prelude.lua`: scripts read the globals through a proxy that refuses writes, reading a
//! global that does not exist is an error, the libraries are read-only, and there is no
//! `print`, `dofile`, `loadfile`, `io`, `os` or `debug`, nor loading of binary chunks.

mod bit;
mod cjson;
mod cmsgpack;
mod convert;
pub mod sha1;
mod structlib;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

pub use convert::format_number;

/// The version `redis.REDIS_VERSION` reports, and its number (`0x00MMmmpp`).
const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: i64 = 0x0007_000f;

/// EVALSHA's reply for a script the cache does not hold.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// FCALL's reply for a function no library registered.
pub(crate) const FUNCTION_NOT_FOUND: &str = "ERR Function not found";

/// The message a script killed by SCRIPT KILL / FUNCTION KILL dies with.
pub(crate) const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The chunk name of respd's own Lua code, skipped when an error names the script line.
const PRELUDE_NAME: &str = "=respd";

/// The flags a script declares (`#!lua flags=...`) or a function registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ScriptFlags(u32);

impl ScriptFlags {
    /// The script has no shebang: Redis's backward-compatible mode, where the flags of the
    /// EVAL command apply.
    pub(crate) const EVAL_COMPAT: ScriptFlags = ScriptFlags(1);
    /// `no-writes`.
    pub(crate) const NO_WRITES: ScriptFlags = ScriptFlags(1 << 1);
    /// `allow-oom`.
    pub(crate) const ALLOW_OOM: ScriptFlags = ScriptFlags(1 << 2);
    /// `allow-stale`.
    pub(crate) const ALLOW_STALE: ScriptFlags = ScriptFlags(1 << 3);
    /// `no-cluster`.
    pub(crate) const NO_CLUSTER: ScriptFlags = ScriptFlags(1 << 4);
    /// `allow-cross-slot-keys`.
    pub(crate) const ALLOW_CROSS_SLOT: ScriptFlags = ScriptFlags(1 << 5);

    /// The flags by their Redis names, in the order FUNCTION LIST prints them.
    pub(crate) const NAMES: &'static [(ScriptFlags, &'static str)] = &[
        (ScriptFlags::NO_WRITES, "no-writes"),
        (ScriptFlags::ALLOW_OOM, "allow-oom"),
        (ScriptFlags::ALLOW_STALE, "allow-stale"),
        (ScriptFlags::NO_CLUSTER, "no-cluster"),
        (ScriptFlags::ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// True if every flag of `other` is set.
    pub fn contains(self, other: ScriptFlags) -> bool {
        self.0 & other.0 == other.0
    }

    fn insert(&mut self, other: ScriptFlags) {
        self.0 |= other.0;
    }

    fn by_name(name: &[u8]) -> Option<ScriptFlags> {
        ScriptFlags::NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(f, _)| *f)
    }

    /// The names of the flags set, for FUNCTION LIST.
    pub fn names(self) -> Vec<&'static str> {
        ScriptFlags::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Reads the `#!lua flags=...` line of an EVAL script (Redis `evalExtractShebangFlags`).
/// Returns the flags and the length of the shebang line (without its newline), which the
/// compiler skips while keeping the line numbers.
pub(crate) fn shebang_flags(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts = parts_of(&body[..end]);
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine.as_slice() != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        if let Some(list) = part.strip_prefix(b"flags=") {
            for name in list.split(|&b| b == b',') {
                if list.is_empty() {
                    break;
                }
                match ScriptFlags::by_name(name) {
                    Some(f) => flags.insert(f),
                    None => {
                        return Err(format!(
                            "Unexpected flag in script shebang: {}",
                            String::from_utf8_lossy(name)
                        ))
                    }
                }
            }
        } else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        }
    }
    Ok((flags, end))
}

/// The words of a shebang line, split as Redis's `sdssplitargs` splits them.
fn parts_of(line: &[u8]) -> Vec<Vec<u8>> {
    let mut argv = crate::protocol::Argv::new();
    if crate::protocol::parse::split_args(line, &mut argv).is_err() {
        return Vec::new();
    }
    argv.iter().map(|a| a.to_vec()).collect()
}

/// What a script reaches of the server while it runs (one EVAL or FCALL).
pub(crate) trait Host {
    /// Runs `argv` as `redis.call` does: Ok with the command's reply (RESP bytes, in the
    /// script's protocol `resp`), or Err with the text of a refusal before the command ran
    /// ("Unknown Redis command called from script", ...).
    fn call(&mut self, argv: &[Vec<u8>], resp: u8) -> Result<Vec<u8>, String>;
    /// `redis.acl_check_cmd`: Some(allowed), or None for an unknown command.
    fn acl_check(&mut self, argv: &[Vec<u8>]) -> Option<bool>;
    /// `redis.set_repl`.
    fn set_repl(&mut self, flags: u8);
}

/// One cached EVAL script.
pub(crate) struct CachedScript {
    /// Its shebang flags.
    pub flags: ScriptFlags,
    function: Function,
}

/// One function of a library.
pub(crate) struct FunctionDef {
    /// Its name (FCALL's first argument).
    pub name: String,
    /// Its description, if registered with one.
    pub description: Option<Vec<u8>>,
    /// Its flags.
    pub flags: ScriptFlags,
    callback: Function,
}

/// A library loaded by FUNCTION LOAD.
pub(crate) struct Library {
    /// `#!lua name=<name>`.
    pub name: String,
    /// The code as loaded (FUNCTION LIST WITHCODE, FUNCTION DUMP, the RDB).
    pub code: Vec<u8>,
    /// Its functions, by name in lowercase.
    pub functions: BTreeMap<String, FunctionDef>,
}

/// State shared with the instruction hook and with SCRIPT KILL on other connections.
#[derive(Debug, Default)]
pub(crate) struct RunFlags {
    /// A script is running.
    pub running: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
    pub kill: AtomicBool,
}

/// The interpreter and everything compiled into it.
pub(crate) struct Engine {
    lua: Lua,
    prim: Table,
    eval_env: Table,
    function_env: Table,
    loading: Function,
    runner: Function,
    set_keys_args: Function,
    error_handler: Function,
    flags: Arc<RunFlags>,
    /// EVAL's script cache, by SHA-1 (lowercase hex).
    scripts: HashMap<String, CachedScript>,
    /// Bytes of the cached bodies (INFO used_memory_scripts_eval).
    scripts_bytes: usize,
    /// Libraries, by name.
    libraries: BTreeMap<String, Library>,
    /// Function name → library name.
    functions: HashMap<String, String>,
    /// Scripts run so far, for the garbage collection pace.
    runs: u64,
}

/// Which of the two script kinds runs (errors and BUSY replies differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// EVAL / EVALSHA.
    Eval,
    /// FCALL.
    Function,
}

/// The outcome of a run, already rendered as the reply the caller gets.
pub struct Outcome {
    /// RESP bytes of the reply.
    pub reply: Vec<u8>,
    /// True if the reply is an error.
    pub is_error: bool,
    /// The error repeats one a command of the script already counted in INFO errorstats.
    pub counted: bool,
}

/// The field Redis marks an error table with when the error was already counted (by the
/// command that failed inside the script).
const COUNTED: &str = "ignore_error_stats_update";

impl Engine {
    /// A fresh interpreter with the sandbox and the libraries Redis loads.
    pub fn new(flags: Arc<RunFlags>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let prim = lua.create_table()?;
        let running = flags.clone();
        prim.raw_set(
            "running",
            lua.create_function(move |_, ()| Ok(running.running.load(Ordering::Relaxed)))?,
        )?;
        let killed = flags.clone();
        prim.raw_set(
            "killed",
            lua.create_function(move |_, ()| Ok(killed.kill.load(Ordering::Relaxed)))?,
        )?;
        prim.raw_set("version", REDIS_VERSION)?;
        prim.raw_set("version_num", REDIS_VERSION_NUM)?;
        prim.raw_set(
            "sha1hex",
            lua.create_function(|_, s: Value| {
                let bytes = match s {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(n) => n.to_string().into_bytes(),
                    Value::Number(n) => lua_number_text(n).into_bytes(),
                    _ => Vec::new(),
                };
                Ok(sha1::sha1_hex(&bytes))
            })?,
        )?;
        prim.raw_set(
            "log",
            lua.create_function(|_, (level, text): (i64, mlua::String)| {
                let text = String::from_utf8_lossy(&text.as_bytes()).into_owned();
                match level {
                    0 => crate::debug!("{text}"),
                    1 => crate::verbose!("{text}"),
                    2 => crate::notice!("{text}"),
                    _ => crate::warning!("{text}"),
                }
                Ok(())
            })?,
        )?;
        let rng = Arc::new(parking_lot::Mutex::new(Lrand48::default()));
        let r = rng.clone();
        prim.raw_set(
            "random",
            lua.create_function(move |_, ()| {
                let v = r.lock().next() % LRAND48_MAX;
                Ok(v as f64 / LRAND48_MAX as f64)
            })?,
        )?;
        prim.raw_set(
            "randomseed",
            lua.create_function(move |_, seed: i64| {
                rng.lock().seed(seed as i32);
                Ok(())
            })?,
        )?;
        // redis.call is a Rust function, so that the script's own frame stays on the stack
        // (a Lua wrapper would replace it in `return redis.call(...)`, a tail call) and the
        // error names the script's line. It runs the per-run primitive and raises its error.
        // The arguments go to the primitive packed in one table: a script may pass
        // thousands (`unpack` of a big table), more than a second call could push again.
        let prim_for_call = prim.clone();
        prim.raw_set(
            "call_raising",
            lua.create_function(move |lua, args: MultiValue| {
                let call: Function = prim_for_call.raw_get("call")?;
                let n = args.len();
                let packed = lua.create_sequence_from(args)?;
                let (value, failed): (Value, bool) = call.call((packed, n))?;
                if failed {
                    let text = match &value {
                        Value::Table(t) => t
                            .raw_get::<mlua::String>("err")
                            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    return Err(mlua::Error::external(ScriptError(text, true)));
                }
                Ok(value)
            })?,
        )?;
        let prim_for_pcall = prim.clone();
        prim.raw_set(
            "call_plain",
            lua.create_function(move |lua, args: MultiValue| {
                let call: Function = prim_for_pcall.raw_get("call")?;
                let n = args.len();
                let packed = lua.create_sequence_from(args)?;
                let (value, _): (Value, bool) = call.call((packed, n))?;
                Ok(value)
            })?,
        )?;
        prim.raw_set(
            "error_text",
            lua.create_function(|_, e: Value| {
                Ok(match e {
                    Value::Error(e) => script_error_text(&e),
                    _ => None,
                })
            })?,
        )?;
        // `prim.guard(f)`: a C function running the Lua function `f`, raising the error `f`
        // reports by returning `prim.fail` and its message (see prelude.lua).
        let fail = lua.create_table()?;
        prim.raw_set("fail", fail.clone())?;
        prim.raw_set(
            "guard",
            lua.create_function(move |lua, f: Function| {
                let fail = fail.clone();
                lua.create_function(move |_, args: MultiValue| {
                    let out: MultiValue = f.call(args)?;
                    if let Some(Value::Table(t)) = out.front() {
                        if *t == fail {
                            let text = match out.get(1) {
                                Some(Value::String(s)) => {
                                    String::from_utf8_lossy(&s.as_bytes()).into_owned()
                                }
                                _ => String::new(),
                            };
                            return Err(mlua::Error::external(ScriptError(text, false)));
                        }
                    }
                    Ok(out)
                })
            })?,
        )?;
        prim.raw_set("error_handler", lua.create_function(error_handler)?)?;
        // Coroutines get the kill hook too: Lua runs a coroutine on its own thread, and a
        // thread has its own hook, so a loop inside one would otherwise never see SCRIPT KILL.
        let coroutine_flags = flags.clone();
        prim.raw_set(
            "coroutine_create",
            lua.create_function(move |lua, f: Function| {
                let thread = lua.create_thread(f)?;
                let hook_flags = coroutine_flags.clone();
                thread.set_hook(
                    HookTriggers::new().every_nth_instruction(1000),
                    move |_, _| {
                        if hook_flags.kill.load(Ordering::Relaxed) {
                            return Err(killed_error());
                        }
                        Ok(VmState::Continue)
                    },
                )?;
                Ok(thread)
            })?,
        )?;
        let libraries = lua.create_table()?;
        libraries.raw_set("bit", bit::open(&lua)?)?;
        libraries.raw_set("cjson", cjson::open(&lua)?)?;
        libraries.raw_set("cmsgpack", cmsgpack::open(&lua)?)?;
        libraries.raw_set("struct", structlib::open(&lua)?)?;
        prim.raw_set("libraries", libraries)?;
        let engine_tables: Table = lua
            .load(include_str!("prelude.lua"))
            .set_name(PRELUDE_NAME)
            .call(prim.clone())?;
        let error_handler = lua.create_function(error_handler)?;
        let mut engine = Engine {
            eval_env: engine_tables.raw_get("eval_env")?,
            function_env: engine_tables.raw_get("function_env")?,
            loading: engine_tables.raw_get("loading")?,
            runner: engine_tables.raw_get("run")?,
            set_keys_args: engine_tables.raw_get("set_keys_args")?,
            lua,
            prim,
            error_handler,
            flags,
            scripts: HashMap::new(),
            scripts_bytes: 0,
            libraries: BTreeMap::new(),
            functions: HashMap::new(),
            runs: 0,
        };
        engine.install_idle_primitives()?;
        let hook_flags = engine.flags.clone();
        engine.lua.set_hook(
            HookTriggers::new().every_nth_instruction(1000),
            move |_, _| {
                if hook_flags.kill.load(Ordering::Relaxed) {
                    return Err(killed_error());
                }
                Ok(VmState::Continue)
            },
        )?;
        Ok(engine)
    }

    /// The primitives that answer "only inside a script" while no script runs.
    fn install_idle_primitives(&mut self) -> mlua::Result<()> {
        let lua = &self.lua;
        self.prim.raw_set(
            "call",
            lua.create_function(|lua, _: MultiValue| {
                let e = error_table(
                    lua,
                    "ERR redis.call/pcall can only be called inside a script invocation",
                )?;
                Ok((e, true))
            })?,
        )?;
        self.prim.raw_set(
            "acl_check",
            lua.create_function(|lua, _: MultiValue| {
                let e = error_table(
                    lua,
                    "ERR redis.acl_check_cmd can only be called inside a script invocation",
                )?;
                Ok((Value::Table(e), true))
            })?,
        )?;
        self.prim
            .raw_set("setresp", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        self.prim
            .raw_set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        self.prim.raw_set(
            "register_function",
            lua.create_function(|lua, _: MultiValue| {
                error_table(
                    lua,
                    "ERR redis.register_function can only be called on FUNCTION LOAD command",
                )
            })?,
        )?;
        Ok(())
    }

    /// The cached script with this SHA-1 (lowercase hex).
    pub fn script(&self, sha: &str) -> Option<&CachedScript> {
        self.scripts.get(sha)
    }

    /// True if the cache holds this SHA-1.
    pub(crate) fn has_script(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    /// Number of cached scripts and the bytes of their bodies (INFO).
    pub(crate) fn cache_size(&self) -> (usize, usize) {
        (self.scripts.len(), self.scripts_bytes)
    }

    /// Bytes the interpreter uses (INFO used_memory_lua).
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Compiles `body` into the cache (Redis `luaCreateFunction`); returns its SHA-1.
    /// Errors are the reply text, as bytes: Lua's message quotes the script's own bytes,
    /// which need not be UTF-8.
    pub(crate) fn create_script(&mut self, body: &[u8]) -> Result<String, Vec<u8>> {
        let sha = sha1::sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang_flags(body).map_err(String::into_bytes)?;
        let compiled = self
            .lua
            .load(&body[shebang_len..])
            .set_name("@user_script")
            .set_environment(self.eval_env.clone())
            .into_function();
        let function = match compiled {
            Ok(function) => function,
            Err(e) => {
                let mut text = b"Error compiling script (new function): ".to_vec();
                text.extend(self.raw_compile_message(&body[shebang_len..], &e));
                return Err(text);
            }
        };
        self.scripts_bytes += body.len() + sha.len();
        self.scripts
            .insert(sha.clone(), CachedScript { flags, function });
        Ok(sha)
    }

    /// Empties the script cache (SCRIPT FLUSH).
    pub(crate) fn flush_scripts(&mut self) {
        self.scripts.clear();
        self.scripts_bytes = 0;
        self.lua.gc_collect().ok();
    }

    /// Libraries, by name.
    pub fn libraries(&self) -> &BTreeMap<String, Library> {
        &self.libraries
    }

    /// The library a function belongs to, and the function.
    pub fn function(&self, name: &str) -> Option<(&Library, &FunctionDef)> {
        // Function names are case-insensitive, as Redis's function dictionaries are.
        let key = name.to_ascii_lowercase();
        let lib = self.libraries.get(self.functions.get(&key)?)?;
        Some((lib, lib.functions.get(&key)?))
    }

    /// Removes every library (FUNCTION FLUSH).
    pub(crate) fn flush_functions(&mut self) {
        self.libraries.clear();
        self.functions.clear();
        self.lua.gc_collect().ok();
    }

    /// Removes one library (FUNCTION DELETE); false if there is none of that name.
    pub(crate) fn delete_library(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions.keys() {
            self.functions.remove(f);
        }
        true
    }

    /// Takes every library out (FUNCTION RESTORE keeps them to put back on failure).
    pub(crate) fn take_libraries(&mut self) -> BTreeMap<String, Library> {
        self.functions.clear();
        std::mem::take(&mut self.libraries)
    }

    /// Puts libraries taken by [`Engine::take_libraries`] back, replacing these.
    pub(crate) fn put_libraries(&mut self, libraries: BTreeMap<String, Library>) {
        self.libraries = libraries;
        self.functions.clear();
        for lib in self.libraries.values() {
            for f in lib.functions.keys() {
                self.functions.insert(f.clone(), lib.name.clone());
            }
        }
    }

    /// Loads a library (FUNCTION LOAD [REPLACE]); returns its name. Errors are the reply
    /// text, without the `ERR ` Redis adds.
    pub(crate) fn load_library(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let name = library_name(code)?;
        // The code is compiled from the shebang's newline on, which keeps the line numbers.
        let body_start = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let registered: RefCell<BTreeMap<String, FunctionDef>> = RefCell::new(BTreeMap::new());
        let compiled = self
            .lua
            .load(&code[body_start..])
            .set_name("@user_function")
            .set_environment(self.function_env.clone())
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", compile_message(&e)))?;
        let started = std::time::Instant::now();
        let result: mlua::Result<Result<(), String>> = self.lua.scope(|scope| {
            let register =
                scope.create_function(|lua, args: MultiValue| {
                    match read_register_args(lua, args) {
                        Ok(def) => {
                            let mut map = registered.borrow_mut();
                            let key = def.name.to_ascii_lowercase();
                            if map.contains_key(&key) {
                                return error_value(
                                    lua,
                                    "ERR Function already exists in the library",
                                );
                            }
                            map.insert(key, def);
                            Ok(Value::Nil)
                        }
                        Err(msg) => error_value(lua, &format!("ERR {msg}")),
                    }
                })?;
            self.prim.raw_set("register_function", register)?;
            self.loading.call::<()>(true)?;
            self.lua.set_hook(
                HookTriggers::new().every_nth_instruction(1000),
                move |_, _| {
                    if started.elapsed().as_millis() > 500 {
                        return Err(mlua::Error::external(ScriptError(
                            "ERR FUNCTION LOAD timeout".into(),
                            false,
                        )));
                    }
                    Ok(VmState::Continue)
                },
            )?;
            let (ok, err): (bool, Value) =
                self.runner
                    .call((compiled.clone(), self.error_handler.clone(), false))?;
            self.loading.call::<()>(false)?;
            if ok {
                return Ok(Ok(()));
            }
            Ok(Err(error_text(&err)))
        });
        self.install_idle_primitives().ok();
        self.loading.call::<()>(false).ok();
        let hook_flags = self.flags.clone();
        self.lua
            .set_hook(
                HookTriggers::new().every_nth_instruction(1000),
                move |_, _| {
                    if hook_flags.kill.load(Ordering::Relaxed) {
                        return Err(killed_error());
                    }
                    Ok(VmState::Continue)
                },
            )
            .ok();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return Err(format!("Error registering functions: {msg}")),
            Err(e) => return Err(format!("Error registering functions: {e}")),
        }
        let functions = registered.into_inner();
        if functions.is_empty() {
            return Err("No functions registered".into());
        }
        for f in functions.keys() {
            if let Some(owner) = self.functions.get(f) {
                if *owner != name {
                    return Err(format!("Function {f} already exists"));
                }
            }
        }
        self.delete_library(&name);
        for f in functions.keys() {
            self.functions.insert(f.clone(), name.clone());
        }
        self.libraries.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: code.to_vec(),
                functions,
            },
        );
        Ok(name)
    }

    /// Runs a cached script (EVAL) or a function (FCALL) and renders its reply. `caller_resp`
    /// is the calling connection's protocol. The caller has checked the flags and holds the
    /// keyspace write lock.
    pub fn run(
        &mut self,
        host: &mut dyn Host,
        target: Target<'_>,
        keys: &[&[u8]],
        args: &[&[u8]],
        caller_resp: u8,
    ) -> Outcome {
        let (function, kind, name) = match target {
            Target::Script(sha) => match self.scripts.get(sha) {
                Some(s) => (s.function.clone(), Kind::Eval, sha.to_string()),
                None => {
                    return Outcome {
                        reply: format!("-{NOSCRIPT}\r\n").into_bytes(),
                        is_error: true,
                        counted: false,
                    }
                }
            },
            Target::Function(fname) => match self.function(fname) {
                Some((_, f)) => (f.callback.clone(), Kind::Function, fname.to_string()),
                None => {
                    return Outcome {
                        reply: format!("-{FUNCTION_NOT_FOUND}\r\n").into_bytes(),
                        is_error: true,
                        counted: false,
                    }
                }
            },
        };
        // The per-run primitives the run installed are destroyed with its scope; nothing can
        // call them between runs (only a running script reaches `redis.call`).
        let result = self.run_inner(host, function, kind, &name, keys, args, caller_resp);
        // Garbage collection at a steady pace, as Redis steps its collector every 50 scripts:
        // each run leaves its argument tables and its primitives behind, and the heap
        // between scripts (the cache, the sandbox) is small, so a full cycle is short.
        self.runs += 1;
        if self.runs % 100 == 0 {
            self.lua.gc_collect().ok();
        } else if self.runs % 10 == 0 {
            self.lua.gc_step_kbytes(20).ok();
        }
        self.flags.kill.store(false, Ordering::Relaxed);
        match result {
            Ok(outcome) => outcome,
            Err(e) => {
                let mut reply = b"-ERR Error running script ".to_vec();
                reply.extend_from_slice(
                    format!("{name}, {e}").replace(['\r', '\n'], " ").as_bytes(),
                );
                reply.extend_from_slice(b"\r\n");
                Outcome {
                    reply,
                    is_error: true,
                    counted: false,
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_inner(
        &mut self,
        host: &mut dyn Host,
        function: Function,
        kind: Kind,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        caller_resp: u8,
    ) -> mlua::Result<Outcome> {
        let lua = &self.lua;
        let keys_table = lua.create_sequence_from(
            keys.iter()
                .map(|k| lua.create_string(k))
                .collect::<mlua::Result<Vec<_>>>()?,
        )?;
        let args_table = lua.create_sequence_from(
            args.iter()
                .map(|a| lua.create_string(a))
                .collect::<mlua::Result<Vec<_>>>()?,
        )?;
        let script_resp = Cell::new(2u8);
        let host = RefCell::new(host);
        lua.scope(|scope| {
            let call = scope.create_function(|lua, (packed, n): (Table, usize)| {
                let args: Vec<Value> = (1..=n)
                    .map(|i| packed.raw_get(i))
                    .collect::<mlua::Result<_>>()?;
                let argv = match lua_args_to_argv(&args) {
                    Ok(argv) => argv,
                    Err(msg) => return Ok((Value::Table(error_table(lua, msg)?), true)),
                };
                let Ok(mut host) = host.try_borrow_mut() else {
                    let msg = "ERR luaRedisGenericCommand() recursive call detected. Are you doing funny stuff with Lua debug hooks?";
                    return Ok((Value::Table(error_table(lua, msg)?), false));
                };
                match host.call(&argv, script_resp.get()) {
                    Err(msg) => {
                        let t = error_table(lua, &msg)?;
                        t.raw_set(COUNTED, true)?;
                        Ok((Value::Table(t), true))
                    }
                    Ok(bytes) => {
                        let (value, is_error) = convert::resp_to_lua(lua, &bytes)?;
                        if let (true, Value::Table(t)) = (is_error, &value) {
                            t.raw_set(COUNTED, true)?;
                        }
                        Ok((value, is_error))
                    }
                }
            })?;
            self.prim.raw_set("call", call)?;
            let acl = scope.create_function(|lua, args: MultiValue| {
                let args: Vec<Value> = args.into_iter().collect();
                let argv = match lua_args_to_argv(&args) {
                    Ok(argv) => argv,
                    Err(msg) => return Ok((Value::Table(error_table(lua, msg)?), true)),
                };
                let Ok(mut host) = host.try_borrow_mut() else {
                    return Ok((Value::Boolean(false), false));
                };
                match host.acl_check(&argv) {
                    Some(allowed) => Ok((Value::Boolean(allowed), false)),
                    None => Ok((
                        Value::Table(error_table(
                            lua,
                            "ERR Invalid command passed to redis.acl_check_cmd()",
                        )?),
                        true,
                    )),
                }
            })?;
            self.prim.raw_set("acl_check", acl)?;
            let setresp = scope.create_function(|_, resp: u8| {
                script_resp.set(resp);
                Ok(())
            })?;
            self.prim.raw_set("setresp", setresp)?;
            let set_repl = scope.create_function(|_, flags: u8| {
                if let Ok(mut host) = host.try_borrow_mut() {
                    host.set_repl(flags);
                }
                Ok(())
            })?;
            self.prim.raw_set("set_repl", set_repl)?;
            let (ok, value): (bool, Value) = match kind {
                Kind::Eval => {
                    self.set_keys_args
                        .call::<()>((keys_table.clone(), args_table.clone()))?;
                    self.runner
                        .call((function, self.error_handler.clone(), false))?
                }
                Kind::Function => self.runner.call((
                    function,
                    self.error_handler.clone(),
                    true,
                    keys_table,
                    args_table,
                ))?,
            };
            let counted = match &value {
                Value::Table(t) => t.raw_get::<Option<bool>>(COUNTED).ok().flatten() == Some(true),
                _ => false,
            };
            if ok {
                let mut out = crate::protocol::Reply::with_protocol(caller_resp == 3);
                convert::lua_to_reply(&mut out, &value, script_resp.get());
                let bytes = out.take_bytes();
                let is_error = bytes.first() == Some(&b'-');
                return Ok(Outcome {
                    reply: bytes,
                    is_error,
                    counted,
                });
            }
            Ok(Outcome {
                reply: error_reply(&value, name),
                is_error: true,
                counted,
            })
        })
    }
}

/// What [`Engine::run`] runs.
pub enum Target<'a> {
    /// A cached script, by SHA-1.
    Script(&'a str),
    /// A function, by name.
    Function(&'a str),
}

/// The error reply of a script that raised `err` (Redis `luaCallFunction`): the message,
/// then where it was raised.
fn error_reply(err: &Value, name: &str) -> Vec<u8> {
    let mut out = b"-".to_vec();
    match err {
        Value::Table(t) => {
            let msg = t
                .raw_get::<mlua::String>("err")
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            out.extend_from_slice(&msg);
            let source = t.raw_get::<Option<mlua::String>>("source").ok().flatten();
            let line = t.raw_get::<Option<mlua::String>>("line").ok().flatten();
            if let (Some(source), Some(line)) = (source, line) {
                out.extend_from_slice(b" script: ");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b", on ");
                out.extend_from_slice(&source.as_bytes());
                out.push(b':');
                out.extend_from_slice(&line.as_bytes());
                out.push(b'.');
            }
        }
        other => {
            let text = match other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".into(),
            };
            let text: String = text.chars().take(100).collect();
            out.extend_from_slice(format!("ERR Error running script {name}, {text}").as_bytes());
        }
    }
    for b in out.iter_mut() {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The message of an error value caught while loading a library.
fn error_text(err: &Value) -> String {
    match err {
        Value::Table(t) => t
            .raw_get::<mlua::String>("err")
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
            .unwrap_or_default(),
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        _ => "unknown error".into(),
    }
}

/// The pcall error handler every script runs under (Redis's `__redis__err__handler`): turns
/// the error into a table with `err`, and adds the source and line of the script code that
/// raised it (skipping C functions such as `error`, and respd's own Lua code).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) => t,
        other => {
            if let Value::Error(e) = &other {
                if let Some((text, counted)) = script_error(e) {
                    let t = lua.create_table()?;
                    t.raw_set("err", text)?;
                    if counted {
                        t.raw_set(COUNTED, true)?;
                    }
                    return locate(lua, t);
                }
            }
            if let Value::Error(e) = &other {
                // An error a library function raised (luaL_error in Redis): it names the
                // script line that called the function.
                let mut text = error_message(e);
                if let Some((source, line)) = script_frame(lua) {
                    let short = source.strip_prefix('@').unwrap_or(&source);
                    text = format!("{short}:{line}: {text}");
                }
                let t = lua.create_table()?;
                t.raw_set("err", format!("ERR {text}"))?;
                return locate(lua, t);
            }
            let text = match &other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                Value::Nil => "nil".into(),
                Value::Boolean(b) => b.to_string(),
                Value::Integer(n) => n.to_string(),
                Value::Number(n) => lua_number_text(*n),
                v => format!("{}: {:p}", v.type_name(), v.to_pointer()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    locate(lua, table)
}

/// Adds to an error table the source and line of the script code that raised it.
fn locate(lua: &Lua, table: Table) -> mlua::Result<Table> {
    if let Some((source, line)) = script_frame(lua) {
        table.raw_set("source", source)?;
        table.raw_set("line", line)?;
    }
    Ok(table)
}

/// The source and line of the innermost script frame (skipping C functions and respd's own
/// Lua code), seen from the error handler.
fn script_frame(lua: &Lua) -> Option<(String, i64)> {
    for level in 1..12 {
        let frame = lua.inspect_stack(level, |d| {
            let source = d.source();
            (
                source.what == "C",
                source.source.map(|s| s.into_owned()),
                d.current_line().map(|n| n as i64).unwrap_or(-1),
            )
        });
        let Some((is_c, source, line)) = frame else {
            break;
        };
        if is_c || source.as_deref() == Some(PRELUDE_NAME) {
            continue;
        }
        return source.map(|s| (s, line));
    }
    None
}

/// An error raised from Rust with Redis's error text (`{err = ...}` in Redis): the text,
/// code included.
#[derive(Debug)]
struct ScriptError(String, bool);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

/// The error a killed script dies with.
fn killed_error() -> mlua::Error {
    mlua::Error::external(ScriptError(format!("ERR {KILLED}"), false))
}

/// The text of a [`ScriptError`], however mlua wrapped it on the way.
fn script_error_text(e: &mlua::Error) -> Option<String> {
    script_error(e).map(|(text, _)| text)
}

/// The text of a [`ScriptError`] and whether it was already counted.
fn script_error(e: &mlua::Error) -> Option<(String, bool)> {
    match e {
        mlua::Error::ExternalError(inner) => inner
            .downcast_ref::<ScriptError>()
            .map(|s| (s.0.clone(), s.1)),
        mlua::Error::CallbackError { cause, .. } => script_error(cause),
        mlua::Error::WithContext { cause, .. } => script_error(cause),
        _ => None,
    }
}

/// The text of an error raised from Rust (the instruction hook, a primitive).
fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

/// A compile error's text as Lua gives it (`user_script:1: '=' expected near 'end'`).
impl Engine {
    /// The compiler's message for a chunk that does not compile, byte for byte: mlua hands
    /// it over as a `String`, replacing bytes that are not UTF-8, so the chunk is compiled
    /// once more by Lua's own `loadstring`, whose message is a Lua string. Falls back to
    /// mlua's text if that is not possible.
    fn raw_compile_message(&self, chunk: &[u8], e: &mlua::Error) -> Vec<u8> {
        let raw = || -> mlua::Result<Option<Vec<u8>>> {
            let loadstring: mlua::Function = self.lua.globals().raw_get("loadstring")?;
            let chunk = self.lua.create_string(chunk)?;
            let (_, message): (Value, Option<mlua::String>) =
                loadstring.call((chunk, "@user_script"))?;
            Ok(message.map(|m| m.as_bytes().to_vec()))
        };
        match raw() {
            Ok(Some(message)) => message,
            _ => compile_message(e).into_bytes(),
        }
    }
}

fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => error_message(other),
    }
}

/// A `{err = text}` table (Redis `luaPushError`, with the code already in `text`).
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(t)
}

fn error_value(lua: &Lua, text: &str) -> mlua::Result<Value> {
    Ok(Value::Table(error_table(lua, text)?))
}

/// How Lua 5.1 prints a number (`%.14g`).
fn lua_number_text(n: f64) -> String {
    convert::format_g(n, 14)
}

/// `redis.call`'s arguments as a command (Redis `luaArgsToRedisArgv`): strings as they are,
/// numbers as `%.17g`, anything else refused.
fn lua_args_to_argv(args: &[Value]) -> Result<Vec<Vec<u8>>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in args.iter() {
        match arg {
            Value::String(s) => argv.push(s.as_bytes().to_vec()),
            Value::Integer(n) => argv.push(n.to_string().into_bytes()),
            Value::Number(n) => argv.push(format_number(*n).into_bytes()),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(argv)
}

/// The `#!lua name=<lib>` line of a library's code (Redis `functionExtractLibMetaData`).
fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = parts_of(&code[..end]);
    if parts.is_empty() {
        return Err("Invalid library metadata".into());
    }
    let engine = parts[0][2..].to_vec();
    let mut name: Option<Vec<u8>> = None;
    for part in &parts[1..] {
        if let Some(n) = part.strip_prefix(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(n.to_vec());
        } else {
            return Err(format!(
                "Invalid metadata value given: {}",
                String::from_utf8_lossy(part)
            ));
        }
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !crate::util::eq_ci(&engine, "lua") {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(&engine)
        ));
    }
    Ok(String::from_utf8_lossy(&name).into_owned())
}

/// `redis.register_function`'s arguments: `(name, callback)` or one table of named
/// arguments (Redis `luaRegisterFunctionReadArgs`).
fn read_register_args(_lua: &Lua, args: MultiValue) -> Result<FunctionDef, String> {
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Number(n) => Some(lua_number_text(*n)),
            _ => None,
        }
    };
    let def = match args.len() {
        2 => {
            let Some(name) = text(&args[0]) else {
                return Err("first argument to redis.register_function must be a string".into());
            };
            let Value::Function(callback) = &args[1] else {
                return Err("second argument to redis.register_function must be a function".into());
            };
            FunctionDef {
                name,
                description: None,
                flags: ScriptFlags::default(),
                callback: callback.clone(),
            }
        }
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            };
            let mut name = None;
            let mut description = None;
            let mut callback = None;
            let mut flags = ScriptFlags::default();
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let Some(key) = text(&k) else {
                    return Err(
                        "named argument key given to redis.register_function is not a string"
                            .into(),
                    );
                };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => match text(&v) {
                        Some(n) => name = Some(n),
                        None => return Err("function_name argument given to redis.register_function must be a string".into()),
                    },
                    "description" => match &v {
                        Value::String(s) => description = Some(s.as_bytes().to_vec()),
                        Value::Integer(_) | Value::Number(_) => {
                            description = text(&v).map(String::into_bytes)
                        }
                        _ => return Err("description argument given to redis.register_function must be a string".into()),
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("callback argument given to redis.register_function must be a function".into()),
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        };
                        for item in list.sequence_values::<Value>() {
                            let item = item.map_err(|e| e.to_string())?;
                            let Value::String(s) = item else {
                                return Err("unknown flag given".into());
                            };
                            match ScriptFlags::by_name(&s.as_bytes()) {
                                Some(f) => flags.insert(f),
                                None => return Err("unknown flag given".into()),
                            }
                        }
                    }
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            let Some(name) = name else {
                return Err("redis.register_function must get a function name argument".into());
            };
            let Some(callback) = callback else {
                return Err("redis.register_function must get a callback argument".into());
            };
            FunctionDef {
                name,
                description,
                flags,
                callback,
            }
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    if def.name.is_empty()
        || !def
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(def)
}

/// The largest value Redis's `redisLrand48` divides by (`REDIS_LRAND48_MAX`, INT32_MAX).
const LRAND48_MAX: u64 = i32::MAX as u64;

/// The 48-bit linear congruential generator behind `math.random` (Redis `rand.c`, the
/// classic `lrand48`), so that a seed gives the same sequence as on Redis.
struct Lrand48(u64);

impl Default for Lrand48 {
    fn default() -> Self {
        Lrand48(0x1234_ABCD_330E)
    }
}

impl Lrand48 {
    fn seed(&mut self, seed: i32) {
        self.0 = (((seed as u32) as u64) << 16) | 0x330E;
    }

    fn next(&mut self) -> u64 {
        self.0 = (self.0.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        self.0 >> 17
    }
}
