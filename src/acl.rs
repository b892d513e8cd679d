//! Users, their permissions, and the ACL log. Counterpart of Redis `acl.c`.
//!
//! # The model (Redis 7.0)
//!
//! A [`User`] has a name, an on/off switch, passwords (kept only as SHA-256 hex digests, see
//! [`crate::sha256`]) or `nopass`, and one or more [`Selector`]s. The first selector is the
//! *root* one, which the plain rules (`+get`, `~key*`, `&chan`) change; more selectors are
//! added with `(...)`. A command is allowed when at least one selector allows it: the command
//! itself (a bit per command, or a first argument such as `+select|0`), every key it names
//! (key patterns, optionally read-only `%R~` or write-only `%W~`, matched against the access
//! the command's key specs declare) and every channel it publishes or subscribes to.
//!
//! Every connection starts as the `default` user. When `default` has `nopass` and is on,
//! the connection is authenticated at once; otherwise only the commands flagged `no_auth` in
//! the command table (AUTH, HELLO, QUIT, RESET) run until AUTH or HELLO AUTH succeeds.
//! `requirepass` is the old name of "the default user's one password".
//!
//! # Where the data comes from
//!
//! Everything about commands comes from the one command table ([`crate::cmd`]) and the
//! generated COMMAND INFO data ([`crate::cmd::command_docs`]): command ids are positions in
//! the table, categories are computed by [`crate::cmd::introspection::acl_categories`], and
//! keys are found with the command's key specs (Redis `getKeysUsingKeySpecs`).
//!
//! # Sharing
//!
//! Users are immutable values behind `Arc`s in one [`Acl`] registry. A change (ACL SETUSER,
//! CONFIG SET requirepass, ACL LOAD) builds a new `User` and swaps it in, then bumps a
//! generation counter; each connection keeps its user's `Arc` and re-reads it only when the
//! generation moved, so the per-command cost is one atomic load.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::cmd::introspection::{
    acl_categories, command_doc, BeginSearch, FindKeys, ACL_CATEGORIES,
};
use crate::cmd::{all_commands, full_name, lookup, lookup_subcommand, CommandSpec, Flags};
use crate::protocol::Argv;
use crate::util::eq_ci;

// ---------------------------------------------------------------------------------------------
// Command ids and categories
// ---------------------------------------------------------------------------------------------

/// One command or subcommand of the table, with its id (its position here).
struct Row {
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    /// Full name: `get`, `client|kill`.
    name: String,
    /// Bit `i` set: the command is in `ACL_CATEGORIES[i]`.
    categories: u32,
    /// Ids of a container's subcommands.
    children: Vec<usize>,
}

/// Every command and subcommand in table order, a subcommand right after its container
/// (Redis gives each an id with `ACLGetCommandID`; the bitmap of a selector is indexed by it).
struct CommandIndex {
    rows: Vec<Row>,
    /// Id by the address of the table row.
    by_addr: HashMap<usize, usize>,
    /// Ids of the top-level commands.
    top: Vec<usize>,
}

fn row_addr(spec: &CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

fn index() -> &'static CommandIndex {
    static INDEX: OnceLock<CommandIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = CommandIndex {
            rows: Vec::new(),
            by_addr: HashMap::new(),
            top: Vec::new(),
        };
        let add = |index: &mut CommandIndex, spec, parent| {
            let categories = acl_categories(spec, parent)
                .iter()
                .map(|c| 1u32 << ACL_CATEGORIES.iter().position(|k| k == c).unwrap_or(31))
                .fold(0, |a, b| a | b);
            let id = index.rows.len();
            index.rows.push(Row {
                spec,
                parent,
                name: full_name(spec, parent),
                categories,
                children: Vec::new(),
            });
            index.by_addr.insert(row_addr(spec), id);
            id
        };
        for spec in all_commands() {
            let id = add(&mut index, spec, None);
            index.top.push(id);
            for sub in spec.subcommands {
                let child = add(&mut index, sub, Some(spec));
                index.rows[id].children.push(child);
            }
        }
        index
    })
}

/// The id of a table row.
fn command_id(spec: &CommandSpec) -> usize {
    index().by_addr[&row_addr(spec)]
}

/// The category's bit, by name, case-insensitively (`ACLGetCommandCategoryFlagByName`).
fn category_bit(name: &[u8]) -> Option<u32> {
    ACL_CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// A command by full name, as ACL rules name them (`ACLLookupCommand`): `get`, or
/// `config|get` for a subcommand; `x|y` where `x` has no subcommands is not found.
fn lookup_rule_command(name: &[u8]) -> Option<usize> {
    let mut parts = name.split(|&b| b == b'|');
    let base = lookup(parts.next()?)?;
    let id = match (parts.next(), parts.next()) {
        (None, _) => command_id(base),
        (Some(sub), None) if !base.subcommands.is_empty() => {
            command_id(lookup_subcommand(base, sub)?)
        }
        _ => return None,
    };
    Some(id)
}

/// The full names of the commands in a category, in table order (ACL CAT category).
pub(crate) fn category_commands(name: &[u8]) -> Option<Vec<&'static str>> {
    let bit = category_bit(name)?;
    Some(
        index()
            .rows
            .iter()
            .filter(|r| r.categories & bit != 0)
            .map(|r| r.name.as_str())
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Errors of ACL rules
// ---------------------------------------------------------------------------------------------

/// Why a rule was refused (Redis sets `errno` and `ACLSetUserStringError` words it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT.
    UnknownCommand,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    KeyPatternAfterAll,
    /// EISDIR.
    ChannelPatternAfterAll,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
    /// EALREADY.
    DuplicateUser,
    /// ECHILD.
    FirstArgOfSubcommand,
}

impl RuleError {
    /// Redis's wording (`ACLSetUserStringError`).
    pub fn message(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyPatternAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelPatternAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::DuplicateUser => "Duplicate user found. A user can only be defined once in config files",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------

/// A key pattern and the access it grants (`%R~`, `%W~`, or both as `~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPattern {
    /// Glob-style pattern.
    pub pattern: Vec<u8>,
    /// Grants reading (`R`).
    pub read: bool,
    /// Grants writing (`W`).
    pub write: bool,
}

impl KeyPattern {
    /// `~p`, `%R~p` or `%W~p` (`sdsCatPatternString`).
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match (self.read, self.write) {
            (true, true) => b"~".as_slice(),
            (true, false) => b"%R~",
            _ => b"%W~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// One set of permissions: commands, keys, channels (Redis `aclSelector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    root: bool,
    all_keys: bool,
    all_channels: bool,
    all_commands: bool,
    /// Redis's reserved last bit of the command bitmap: set by `+@all`, cleared by `-@all`
    /// only. It tells "start from +@all" from "start from -@all" when describing the rules.
    future_commands: bool,
    /// Allowed, by command id.
    allowed: Vec<bool>,
    /// First arguments allowed for a command whose bit is off (`+select|0`), by id.
    first_args: BTreeMap<usize, Vec<Vec<u8>>>,
    patterns: Vec<KeyPattern>,
    channels: Vec<Vec<u8>>,
    /// For each category respd has no command of (`@stream`, `@scripting`), whether it was
    /// last granted (`+@cat`, `+@all`) or taken away. Redis has commands there whose bits
    /// record it; keeping one stand-in bit per empty category lets ACL GETUSER and ACL LIST
    /// give back `+@all -@stream` as Redis does.
    empty_categories: u32,
}

/// The categories no command of the table belongs to.
fn empty_categories() -> u32 {
    static EMPTY: OnceLock<u32> = OnceLock::new();
    *EMPTY.get_or_init(|| {
        let used = index().rows.iter().fold(0, |a, r| a | r.categories);
        ((1u32 << ACL_CATEGORIES.len()) - 1) & !used
    })
}

impl Selector {
    /// An empty selector: no commands, no keys; channels per `acl-pubsub-default`
    /// (`ACLCreateSelector`).
    fn new(root: bool, all_channels: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels,
            all_commands: false,
            future_commands: false,
            allowed: vec![false; index().rows.len()],
            first_args: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
            empty_categories: 0,
        }
    }

    fn set_bit(&mut self, id: usize, value: bool) {
        self.allowed[id] = value;
        if !value {
            self.all_commands = false;
        }
    }

    /// `ACLChangeSelectorPerm`: a command and, for a container, all its subcommands.
    fn change_perm(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.first_args.remove(&id);
        for &child in &index().rows[id].children {
            self.set_bit(child, allow);
        }
    }

    /// `ACLSetSelectorCommandBitsForCategory`: every command of the category, then every
    /// subcommand of the category (a container in it brings all its subcommands along).
    fn change_category(&mut self, bit: u32, allow: bool) {
        if bit & empty_categories() != 0 {
            if allow {
                self.empty_categories |= bit;
            } else {
                self.empty_categories &= !bit;
            }
        }
        for (id, row) in index().rows.iter().enumerate() {
            if row.categories & bit != 0 {
                self.change_perm(id, allow);
            }
        }
    }

    fn set_all_commands(&mut self, allow: bool) {
        self.allowed.iter_mut().for_each(|b| *b = allow);
        self.empty_categories = if allow { empty_categories() } else { 0 };
        self.all_commands = allow;
        self.future_commands = allow;
        self.first_args.clear();
    }

    /// Applies one rule (`ACLSetSelector`).
    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if eq_ci(op, "allkeys") || op == b"~*" {
            self.all_keys = true;
            self.patterns.clear();
        } else if eq_ci(op, "resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if eq_ci(op, "allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if eq_ci(op, "resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if eq_ci(op, "allcommands") || eq_ci(op, "+@all") {
            self.set_all_commands(true);
        } else if eq_ci(op, "nocommands") || eq_ci(op, "-@all") {
            self.set_all_commands(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeyPatternAfterAll);
            }
            let (mut read, mut write) = (false, false);
            let mut offset = 1;
            if op[0] == b'%' {
                while offset < op.len() {
                    let c = op[offset];
                    if c.eq_ignore_ascii_case(&b'R') && !read {
                        read = true;
                    } else if c.eq_ignore_ascii_case(&b'W') && !write {
                        write = true;
                    } else if c == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
            } else {
                (read, write) = (true, true);
            }
            let pattern = &op[offset..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(existing) => {
                    existing.read |= read;
                    existing.write |= write;
                }
                None => self.patterns.push(KeyPattern {
                    pattern: pattern.to_vec(),
                    read,
                    write,
                }),
            }
            self.all_keys = false;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelPatternAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = lookup_rule_command(name).ok_or(RuleError::UnknownCommand)?;
                    self.change_perm(id, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = lookup_rule_command(base).ok_or(RuleError::UnknownCommand)?;
                    let row = &index().rows[id];
                    if row.parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !row.spec.subcommands.is_empty() {
                        let id = lookup_rule_command(name).ok_or(RuleError::UnknownCommand)?;
                        self.change_perm(id, true);
                    } else {
                        crate::warning!(
                            "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                            String::from_utf8_lossy(name)
                        );
                        let args = self.first_args.entry(id).or_default();
                        if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            args.push(sub.to_vec());
                        }
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = lookup_rule_command(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(bit, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// Commands allowed and denied among those of a category.
    fn count_category(&self, bit: u32) -> (usize, usize) {
        if bit & empty_categories() != 0 {
            let on = usize::from(self.empty_categories & bit != 0);
            return (on, 1 - on);
        }
        let (mut on, mut off) = (0, 0);
        for (id, row) in index().rows.iter().enumerate() {
            if row.categories & bit != 0 {
                if self.allowed[id] {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The command rules in ACL SETUSER form (`ACLDescribeSelectorCommandRules`): `+@all` or
    /// `-@all`, then the categories that fit best, then single commands, found by replaying
    /// the rules on a scratch selector until its bitmap is this one's.
    pub(crate) fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let additive = !self.future_commands;
        let mut fake = Selector::new(false, false);
        if additive {
            rules.push_str("-@all ");
            fake.set_all_commands(false);
        } else {
            rules.push_str("+@all ");
            fake.set_all_commands(true);
        }
        let mut temp = self.clone();
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, _) in ACL_CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(best) = best else { break };
            fake.change_category(1 << best, additive);
            temp.change_category(1 << best, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(ACL_CATEGORIES[best]);
            rules.push(' ');
            applied[best] = true;
        }
        let rows = &index().rows;
        let single = |id: usize, fake: &mut Selector, rules: &mut String| {
            let bit = self.allowed[id];
            if bit != fake.allowed[id] {
                rules.push(if bit { '+' } else { '-' });
                rules.push_str(&rows[id].name);
                rules.push(' ');
                fake.change_perm(id, bit);
            }
        };
        for &id in &index().top {
            single(id, &mut fake, &mut rules);
            for &child in &rows[id].children {
                single(child, &mut fake, &mut rules);
            }
            if !self.allowed[id] {
                for arg in self.first_args.get(&id).into_iter().flatten() {
                    rules.push('+');
                    rules.push_str(&rows[id].name);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(arg));
                    rules.push(' ');
                }
            }
        }
        rules.pop();
        rules
    }

    /// The key rules one by one: `~*` for all keys, else `~p`, `%R~p`, `%W~p`.
    fn key_rules(&self) -> Vec<Vec<u8>> {
        if self.all_keys {
            return vec![b"~*".to_vec()];
        }
        self.patterns
            .iter()
            .map(|p| {
                let mut out = Vec::new();
                p.describe(&mut out);
                out
            })
            .collect()
    }

    /// The channel rules one by one: `&*` for all channels, else `&p`.
    fn channel_rules(&self) -> Vec<Vec<u8>> {
        if self.all_channels {
            return vec![b"&*".to_vec()];
        }
        self.channels
            .iter()
            .map(|c| [b"&", c.as_slice()].concat())
            .collect()
    }

    /// The key patterns as ACL GETUSER shows them, separated by spaces.
    pub(crate) fn describe_keys(&self) -> Vec<u8> {
        self.key_rules().join(&b' ')
    }

    /// The channel patterns as ACL GETUSER shows them, separated by spaces.
    pub(crate) fn describe_channels(&self) -> Vec<u8> {
        self.channel_rules().join(&b' ')
    }

    /// Keys, channels and commands in ACL LIST form (`ACLDescribeSelector`): each rule
    /// followed by a space, and `resetchannels` before a channel list that is not `&*`.
    fn describe(&self) -> Vec<u8> {
        let mut rules = self.key_rules();
        if !self.all_channels {
            rules.push(b"resetchannels".to_vec());
        }
        rules.extend(self.channel_rules());
        let mut out = Vec::new();
        for rule in rules {
            out.extend_from_slice(&rule);
            out.push(b' ');
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
        out
    }

    /// `ACLSelectorCheckKey`.
    fn key_allowed(&self, key: &[u8], access: KeyAccess) -> bool {
        if self.all_keys {
            return true;
        }
        self.patterns.iter().any(|p| {
            (p.read || !access.read)
                && (p.write || !access.write)
                && crate::glob::matches(&p.pattern, key, false)
        })
    }

    /// `ACLCheckChannelAgainstList`: a pattern subscription must name an allowed pattern
    /// literally; a channel is matched against the patterns.
    fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p == channel
                } else {
                    crate::glob::matches(p, channel, false)
                }
            })
    }

    /// `ACLSelectorCheckCmd`.
    fn check(&self, id: usize, argv: &Argv, keys: &mut Option<Vec<KeyRef>>) -> Result<(), Denied> {
        let row = &index().rows[id];
        if !self.all_commands && !row.spec.flags.contains(Flags::NO_AUTH) && !self.allowed[id] {
            let arg_index = if row.parent.is_some() { 2 } else { 1 };
            let allowed_arg = self.first_args.get(&id).is_some_and(|args| {
                argv.len() >= 2
                    && argv
                        .get(arg_index)
                        .is_some_and(|a| args.iter().any(|x| x.eq_ignore_ascii_case(a)))
            });
            if !allowed_arg {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys && has_keys(row.spec, row.parent) {
            let keys = keys.get_or_insert_with(|| command_keys(row.spec, row.parent, argv));
            for key in keys.iter() {
                if !self.key_allowed(&argv[key.pos], key.access) {
                    return Err(Denied::Key(key.pos));
                }
            }
        }
        if !self.all_channels {
            for (pos, is_pattern) in command_channels(&row.name, argv) {
                if !self.channel_allowed(&argv[pos], is_pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }
}

/// True for bytes Redis refuses in user names and patterns (`ACLStringHasSpaces`: C
/// `isspace` or NUL).
pub(crate) fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0))
}

// ---------------------------------------------------------------------------------------------
// Keys and channels of a command
// ---------------------------------------------------------------------------------------------

/// The access a command needs to one key (from its key spec's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyAccess {
    /// `access`: the value is read.
    pub read: bool,
    /// `insert`, `delete` or `update`: the key is written.
    pub write: bool,
}

/// A key argument: its index in argv and the access needed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef {
    /// Index in argv.
    pub pos: usize,
    /// What the command does to it.
    pub access: KeyAccess,
}

/// Redis `doesCommandHaveKeys`: a key spec that is not `not_key`.
pub(crate) fn has_keys(spec: &CommandSpec, parent: Option<&CommandSpec>) -> bool {
    command_doc(&full_name(spec, parent))
        .is_some_and(|d| d.key_specs.iter().any(|k| !k.flags.contains(&"not_key")))
}

fn access_of(flags: &[&str]) -> KeyAccess {
    KeyAccess {
        read: flags.contains(&"access"),
        write: flags
            .iter()
            .any(|f| matches!(*f, "insert" | "delete" | "update")),
    }
}

/// The keys of a command line with the access each needs (Redis `getKeysFromCommandWithSpecs`).
///
/// The key specs are used unless one has `variable_flags`; then, as Redis, the command's own
/// key finder decides (SET reads its key only with GET; BITFIELD writes only with SET or
/// INCRBY). SORT's STORE destination has no usable spec and is found as Redis's
/// `sortGetKeys` finds it. A spec that does not fit the arguments gives no keys; the command
/// then fails on its own syntax check.
pub(crate) fn command_keys(
    spec: &CommandSpec,
    parent: Option<&CommandSpec>,
    argv: &Argv,
) -> Vec<KeyRef> {
    let name = full_name(spec, parent);
    let Some(doc) = command_doc(&name) else {
        return Vec::new();
    };
    let read = KeyAccess {
        read: true,
        write: false,
    };
    let write = KeyAccess {
        read: false,
        write: true,
    };
    match name.as_str() {
        "set" if argv.len() >= 2 => {
            let get = argv.iter().skip(3).any(|a| eq_ci(a, "get"));
            let access = KeyAccess {
                read: get,
                write: true,
            };
            return vec![KeyRef { pos: 1, access }];
        }
        "bitfield" if argv.len() >= 2 => {
            let writes = argv
                .iter()
                .skip(2)
                .any(|a| eq_ci(a, "set") || eq_ci(a, "incrby"));
            let access = KeyAccess {
                read: true,
                write: writes,
            };
            return vec![KeyRef { pos: 1, access }];
        }
        "sort" | "sort_ro" if argv.len() >= 2 => {
            let line: Vec<&[u8]> = argv.iter().collect();
            let positions = crate::cmd::introspection::sort_keys(&line);
            return positions
                .into_iter()
                .enumerate()
                .map(|(i, pos)| KeyRef {
                    pos,
                    access: if i == 0 { read } else { write },
                })
                .collect();
        }
        _ => {}
    }
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for ks in doc.key_specs {
        if ks.flags.contains(&"not_key") {
            continue;
        }
        let first = match ks.begin_search {
            BeginSearch::Index(pos) => pos,
            BeginSearch::Keyword(keyword, startfrom) => {
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 0 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if eq_ci(&argv[i as usize], keyword) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return Vec::new(),
        };
        let (first, last, step) = match ks.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                if keynumidx >= argc || first + keynumidx >= argc {
                    return Vec::new();
                }
                let Some(n) =
                    crate::util::parse_i64(&argv[(first + keynumidx) as usize]).filter(|&n| n >= 0)
                else {
                    return Vec::new();
                };
                let first = first + firstkey;
                (first, first + (n as i32 as i64) - 1, keystep)
            }
            FindKeys::Unknown => return Vec::new(),
        };
        if last >= argc || last < first || first >= argc {
            return Vec::new();
        }
        let access = access_of(ks.flags);
        let mut i = first;
        while i <= last {
            keys.push(KeyRef {
                pos: i as usize,
                access,
            });
            i += step.max(1);
        }
    }
    keys
}

/// The channels a command publishes or subscribes to, with whether each is a pattern
/// (Redis `getChannelsFromCommand` with its `commands_with_channels` table; unsubscribing
/// is never refused, so those commands are left out).
fn command_channels(name: &str, argv: &Argv) -> Vec<(usize, bool)> {
    match name {
        "publish" | "spublish" if argv.len() > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// Why a command was refused, with the argv index of the key or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The command (ACL_DENIED_CMD).
    Command,
    /// A key (ACL_DENIED_KEY).
    Key(usize),
    /// A channel (ACL_DENIED_CHANNEL).
    Channel(usize),
}

impl Denied {
    /// Redis's ACL_DENIED_* numbers order the reasons when several selectors refuse.
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(p) => (2, p),
            Denied::Channel(p) => (4, p),
        }
    }
}

/// A user (Redis `user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name.
    pub name: Vec<u8>,
    /// `on` (may authenticate) or `off`.
    pub enabled: bool,
    /// Any password works.
    pub nopass: bool,
    /// `Some(true)` sanitize-payload, `Some(false)` skip-sanitize-payload, `None` neither yet.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hex digests of the passwords.
    pub passwords: Vec<String>,
    /// The root selector first, then those added with `(...)`.
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user: off, no passwords, no permissions (`ACLCreateUser`).
    pub fn new(name: &[u8], all_channels: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels)],
        }
    }

    /// The `default` user as Redis creates it: on, nopass, everything allowed.
    pub(crate) fn default_user() -> User {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes(), false).expect("default user rules");
        }
        u
    }

    /// The root selector.
    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule (`ACLSetUser`); `all_channels` is `acl-pubsub-default allchannels`.
    pub fn apply(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        if eq_ci(op, "on") {
            self.enabled = true;
        } else if eq_ci(op, "off") {
            self.enabled = false;
        } else if eq_ci(op, "skip-sanitize-payload") {
            self.sanitize_payload = Some(false);
        } else if eq_ci(op, "sanitize-payload") {
            self.sanitize_payload = Some(true);
        } else if eq_ci(op, "nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if eq_ci(op, "resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                crate::sha256::hex_digest(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                crate::sha256::hex_digest(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::new(false, all_channels);
            let mut args = Argv::new();
            // An unbalanced quote leaves the selector empty, as sdssplitargs's NULL does.
            if crate::protocol::parse::split_args(&op[1..op.len() - 1], &mut args).is_ok() {
                for arg in args.iter() {
                    selector.apply(arg)?;
                }
            }
            self.selectors.push(selector);
        } else if eq_ci(op, "clearselectors") {
            self.selectors.truncate(1);
        } else if eq_ci(op, "reset") {
            for op in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(op.as_bytes(), all_channels)?;
            }
            if all_channels {
                self.apply(b"allchannels", all_channels)?;
            }
            for op in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(op.as_bytes(), all_channels)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// The user in ACL LIST form, without `user <name> ` (`ACLDescribeUser`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for flag in self.flag_names() {
            out.extend_from_slice(flag.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }

    /// The flags in Redis's order (`ACLUserFlags`).
    pub(crate) fn flag_names(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    /// True if `password` is one of the user's (`ACLCheckUserCredentials`), compared as
    /// digests in constant time, so the time taken does not tell how much of a guess was
    /// right.
    pub(crate) fn password_matches(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hashed = crate::sha256::hex_digest(password);
        let mut found = false;
        for p in &self.passwords {
            found |= constant_time_eq(hashed.as_bytes(), p.as_bytes());
        }
        found
    }

    /// Whether the user may run this command line (`ACLCheckAllUserCommandPerm`): allowed if
    /// any selector allows it; otherwise the most relevant refusal (a channel over a key
    /// over the command, and the later argument among equals).
    pub fn check(&self, spec: &CommandSpec, argv: &Argv) -> Result<(), Denied> {
        let root = self.root();
        if root.all_commands && root.all_keys && root.all_channels {
            return Ok(());
        }
        let id = command_id(spec);
        let mut keys = None;
        let mut relevant = Denied::Command;
        for s in &self.selectors {
            match s.check(id, argv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(d) if d.rank() > relevant.rank() => relevant = d,
                Err(_) => {}
            }
        }
        Err(relevant)
    }

    /// True if a selector that allows this command line may also read every key
    /// (`ACLUserCheckCmdWithUnrestrictedKeyAccess` with `CMD_KEY_ACCESS`): what SORT asks
    /// before it looks keys up by a BY or GET pattern.
    pub(crate) fn may_read_any_key(&self, spec: &CommandSpec, argv: &Argv) -> bool {
        let id = command_id(spec);
        let mut keys = None;
        self.selectors.iter().any(|s| {
            s.check(id, argv, &mut keys).is_ok()
                && (s.all_keys || s.patterns.iter().any(|p| p.read && p.pattern == b"*"))
        })
    }

    /// True if every channel this user's subscribers may hold is still allowed by `new`
    /// (`ACLKillPubsubClientsIfNeeded`'s first two tests); false means they must be checked.
    fn channels_kept_by(&self, new: &User) -> bool {
        if new.selectors.iter().any(|s| s.all_channels) {
            return true;
        }
        let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
        self.selectors
            .iter()
            .all(|s| !s.all_channels && s.channels.iter().all(|c| upcoming.contains(&c)))
    }

    /// True if a client subscribed to these channels and patterns may keep them under this
    /// user's rules (the patterns of all selectors together, as Redis checks them).
    pub(crate) fn allows_subscriptions<'a>(
        &self,
        channels: impl IntoIterator<Item = &'a Vec<u8>>,
        patterns: impl IntoIterator<Item = &'a Vec<u8>>,
    ) -> bool {
        let list: Vec<&Vec<u8>> = self.selectors.iter().flat_map(|s| &s.channels).collect();
        patterns.into_iter().all(|p| list.contains(&p))
            && channels
                .into_iter()
                .all(|c| list.iter().any(|l| crate::glob::matches(l, c, false)))
    }
}

/// Checks a `#hash` (`ACLCheckPasswordHash`): 64 lowercase hex digits.
fn valid_hash(hash: &[u8]) -> Result<String, RuleError> {
    if hash.len() != 64 || !hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(hash).into_owned())
}

/// Compares two equal-length strings without stopping at the first difference
/// (`time_independent_strcmp`).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Joins a selector written over several arguments (`(~a` `+get)`) into one
/// (`ACLMergeSelectorArguments`); `Err(index)` names the argument whose parenthesis is not
/// closed.
pub(crate) fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut merged = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        let (first, last) = (op.first().copied(), op.last().copied());
        if first == Some(b'(') && last != Some(b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        if let Some((_, selector)) = open.as_mut() {
            selector.push(b' ');
            selector.extend_from_slice(op);
            if last == Some(b')') {
                merged.push(open.take().expect("open").1);
            }
            continue;
        }
        merged.push(op.to_vec());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(merged),
    }
}

// ---------------------------------------------------------------------------------------------
// The ACL log
// ---------------------------------------------------------------------------------------------

/// What an ACL LOG entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogReason {
    /// A command was refused.
    Command,
    /// A key was refused.
    Key,
    /// A channel was refused.
    Channel,
    /// AUTH failed.
    Auth,
}

impl LogReason {
    /// The name ACL LOG shows.
    pub fn name(self) -> &'static str {
        match self {
            LogReason::Command => "command",
            LogReason::Key => "key",
            LogReason::Channel => "channel",
            LogReason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogContext {
    /// At the top level.
    Toplevel,
    /// Inside MULTI/EXEC.
    Multi,
}

impl LogContext {
    /// The name ACL LOG shows.
    pub fn name(self) -> &'static str {
        match self {
            LogContext::Toplevel => "toplevel",
            LogContext::Multi => "multi",
        }
    }
}

/// One ACL LOG entry (Redis `ACLLogEntry`).
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// How many times this happened (similar events within a minute are grouped).
    pub count: u64,
    /// What was refused.
    pub reason: LogReason,
    /// Where.
    pub context: LogContext,
    /// The command, key, channel or (for AUTH) the command name.
    pub object: Vec<u8>,
    /// The user.
    pub username: Vec<u8>,
    /// Unix ms of the last occurrence.
    pub time_ms: u64,
    /// The client, as CLIENT LIST shows it, at the last occurrence.
    pub client_info: String,
}

/// Similar events closer than this are counted in one entry (`ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const LOG_GROUPING_MS: u64 = 60_000;

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

/// Every user, and the ACL log.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    log: parking_lot::Mutex<VecDeque<LogEntry>>,
    generation: AtomicU64,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new()
    }
}

/// Why AUTH failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No such user.
    NoUser,
    /// Disabled, or a wrong password.
    Refused,
}

impl Acl {
    /// A registry holding only the `default` user (`ACLInit`).
    pub fn new() -> Acl {
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), Arc::new(User::default_user()));
        Acl {
            users: RwLock::new(users),
            log: parking_lot::Mutex::new(VecDeque::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Bumped by every change of a user, so connections know to re-read theirs.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// A user by name.
    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// The `default` user.
    pub(crate) fn default_user(&self) -> Arc<User> {
        self.user(b"default")
            .expect("the default user always exists")
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// True when a new connection is authenticated at once: `default` is on and has
    /// `nopass` (Redis `clientSetDefaultAuth`, `authRequired`).
    pub(crate) fn default_is_open(&self) -> bool {
        let d = self.default_user();
        d.nopass && d.enabled
    }

    /// Checks a user name and password (`ACLCheckUserCredentials`).
    pub(crate) fn check_credentials(
        &self,
        name: &[u8],
        password: &[u8],
    ) -> Result<Arc<User>, AuthError> {
        let user = self.user(name).ok_or(AuthError::NoUser)?;
        if !user.enabled || !user.password_matches(password) {
            return Err(AuthError::Refused);
        }
        Ok(user)
    }

    /// Creates or changes a user from ACL SETUSER's rules, all or nothing
    /// (`ACLStringSetUser`). Returns the user before and after the change.
    pub(crate) fn set_user(
        &self,
        name: &[u8],
        ops: &[&[u8]],
        all_channels: bool,
    ) -> Result<(Option<Arc<User>>, Arc<User>), String> {
        let merged = merge_selector_args(ops).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(ops[i])
            )
        })?;
        let mut users = self.users.write();
        let old = users.get(name).cloned();
        let mut user = match &old {
            Some(u) => (**u).clone(),
            None => User::new(name, all_channels),
        };
        for op in &merged {
            user.apply(op, all_channels).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.message()
                )
            })?;
        }
        let user = Arc::new(user);
        users.insert(name.to_vec(), user.clone());
        drop(users);
        self.changed();
        Ok((old, user))
    }

    /// Removes users; `default` cannot be removed. Returns the names removed.
    pub(crate) fn delete_users(&self, names: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut users = self.users.write();
        let removed: Vec<Vec<u8>> = names
            .iter()
            .filter_map(|n| users.remove(*n).map(|u| u.name.clone()))
            .collect();
        drop(users);
        self.changed();
        removed
    }

    /// `requirepass`: the default user's only password, or `nopass` when empty
    /// (`ACLUpdateDefaultUserPassword`).
    pub(crate) fn set_default_password(&self, password: &[u8]) {
        let mut users = self.users.write();
        let mut user = (**users.get(b"default".as_slice()).expect("default")).clone();
        user.apply(b"resetpass", false).expect("resetpass");
        if password.is_empty() {
            user.apply(b"nopass", false).expect("nopass");
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(password);
            user.apply(&op, false).expect("password");
        }
        users.insert(b"default".to_vec(), Arc::new(user));
        drop(users);
        self.changed();
    }

    /// Replaces every user at once (ACL LOAD, startup). Returns the names of the users that
    /// were replaced or removed, whose connections Redis closes (all but `default`).
    pub(crate) fn replace_all(&self, new: BTreeMap<Vec<u8>, Arc<User>>) -> Vec<Vec<u8>> {
        let mut users = self.users.write();
        let old: Vec<Vec<u8>> = users.keys().filter(|n| *n != b"default").cloned().collect();
        *users = new;
        drop(users);
        self.changed();
        old
    }

    /// The users in ACL file form, one `user <name> <rules>` line each (ACL LIST, ACL SAVE).
    pub(crate) fn describe_all(&self) -> Vec<Vec<u8>> {
        self.users()
            .iter()
            .map(|u| {
                let mut line = b"user ".to_vec();
                line.extend_from_slice(&u.name);
                line.push(b' ');
                line.extend_from_slice(&u.describe());
                line
            })
            .collect()
    }

    /// Adds an event to the ACL log, or counts it in a similar recent entry among the ten
    /// newest (`addACLLogEntry`); the log keeps at most `max_len` entries.
    pub fn log(&self, entry: LogEntry, max_len: usize) {
        let mut log = self.log.lock();
        let similar = log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.time_ms.abs_diff(entry.time_ms) <= LOG_GROUPING_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        match similar {
            Some(i) => {
                let mut found = log.remove(i).expect("entry");
                found.client_info = entry.client_info;
                found.time_ms = entry.time_ms;
                found.count += 1;
                log.push_front(found);
            }
            None => {
                log.push_front(entry);
                log.truncate(max_len);
            }
        }
    }

    /// The newest `count` log entries.
    pub(crate) fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    /// Empties the log (ACL LOG RESET).
    pub(crate) fn reset_log(&self) {
        self.log.lock().clear();
    }
}

/// Whether the subscribers of `old` must be checked after it became `new`.
pub(crate) fn subscribers_need_check(old: &User, new: &User) -> bool {
    !old.channels_kept_by(new)
}

// ---------------------------------------------------------------------------------------------
// Loading users from the config file and the ACL file
// ---------------------------------------------------------------------------------------------

/// Checks a `user` line of the config file (`ACLAppendUserForLoading`): every rule is tried
/// on a scratch user; a command not (yet) known is let through, as Redis defers it. The error
/// is the config error's text.
pub fn check_user_directive(args: &[String], earlier: &[Vec<String>]) -> Result<(), String> {
    // Redis names the offending word by its index among the rules, but looks it up in the
    // whole line (`user` included), so it names the word two places before; kept as is.
    let line: Vec<&str> = std::iter::once("user")
        .chain(args.iter().map(String::as_str))
        .collect();
    let error = |at: usize, e: RuleError| {
        format!(
            "Error in user declaration '{}': {}",
            line[at.min(line.len() - 1)],
            e.message()
        )
    };
    if earlier.iter().any(|u| u.first() == args.first()) {
        return Err(error(1, RuleError::DuplicateUser));
    }
    let ops: Vec<&[u8]> = args[1..].iter().map(|a| a.as_bytes()).collect();
    let merged = merge_selector_args(&ops).map_err(|i| error(i, RuleError::Syntax))?;
    let mut scratch = User::new(b"__fakeuser__", false);
    for (j, op) in merged.iter().enumerate() {
        match scratch.apply(op, false) {
            Err(RuleError::UnknownCommand) | Ok(()) => {}
            Err(e) => return Err(error(j, e)),
        }
    }
    Ok(())
}

/// Builds the users of the config file's `user` lines on top of the current ones
/// (`ACLLoadConfiguredUsers`); `default` is reset first when it is redefined.
pub(crate) fn load_configured_users(
    acl: &Acl,
    lines: &[Vec<String>],
    all_channels: bool,
) -> Result<(), String> {
    let mut users: BTreeMap<Vec<u8>, Arc<User>> = acl
        .users()
        .into_iter()
        .map(|u| (u.name.clone(), u))
        .collect();
    for line in lines {
        let name = line[0].as_bytes();
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let mut user = match users.get(name) {
            Some(existing) => {
                let mut u = (**existing).clone();
                u.apply(b"reset", all_channels).expect("reset");
                u
            }
            None => User::new(name, all_channels),
        };
        for op in &line[1..] {
            user.apply(op.as_bytes(), all_channels).map_err(|e| {
                format!(
                    "Error loading ACL rule '{op}' for the user named '{}': {}",
                    line[0],
                    e.message()
                )
            })?;
        }
        if !user.enabled {
            crate::notice!(
                "The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.",
                line[0]
            );
        }
        users.insert(name.to_vec(), Arc::new(user));
    }
    acl.replace_all(users);
    Ok(())
}

/// Reads an ACL file (`ACLLoadFromFile`): every line `user <name> <rules>`. All or nothing:
/// on any error nothing changes and the errors are returned in one line, as Redis words them.
/// On success returns the names whose connections must be closed.
pub(crate) fn load_file(
    acl: &Acl,
    dir: &str,
    path: &str,
    all_channels: bool,
) -> Result<Vec<Vec<u8>>, String> {
    // Redis has changed into `dir` when it reads the file, so a relative name is in `dir`;
    // errors name the file as configured.
    let text = std::fs::read(std::path::Path::new(dir).join(path)).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            crate::sys::strerror(&e)
        )
    })?;
    let mut errors = String::new();
    let mut users: BTreeMap<Vec<u8>, Arc<User>> = BTreeMap::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = trim(raw, b" \t\r\n");
        let linenum = i + 1;
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line
            .split(|&b| b == b' ')
            .filter(|a| !a.is_empty())
            .collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{path}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{path}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut user = User::new(name, all_channels);
        let merged = match merge_selector_args(&argv[2..]) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for op in &merged {
            let op = trim(op, b"\t\r\n");
            if let Err(e) = user.apply(op, all_channels) {
                if e == RuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{path}:{linenum}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.message()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{path}:{linenum}: {}. ", e.message()));
                    syntax_error = true;
                }
            }
        }
        users.insert(name.to_vec(), Arc::new(user));
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    users
        .entry(b"default".to_vec())
        .or_insert_with(|| Arc::new(User::default_user()));
    Ok(acl.replace_all(users))
}

/// Writes every user to the ACL file, through a temporary file renamed over it
/// (`ACLSaveToFile`).
pub(crate) fn save_file(acl: &Acl, dir: &str, path: &str) -> std::io::Result<()> {
    let path = std::path::Path::new(dir).join(path);
    let path = path.display().to_string();
    let path = path.as_str();
    let mut text = Vec::new();
    for line in acl.describe_all() {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    );
    let result = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn trim<'a>(mut s: &'a [u8], chars: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = s {
        if !chars.contains(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !chars.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ops: &[&str]) -> User {
        let mut u = User::new(b"u", false);
        for op in ops {
            u.apply(op.as_bytes(), false).unwrap();
        }
        u
    }

    #[test]
    fn default_user_is_described_as_redis_does() {
        assert_eq!(
            String::from_utf8(User::default_user().describe()).unwrap(),
            "on nopass ~* &* +@all"
        );
    }

    #[test]
    fn new_user_has_nothing() {
        assert_eq!(
            String::from_utf8(User::new(b"x", false).describe()).unwrap(),
            "off resetchannels -@all"
        );
    }

    #[test]
    fn rules_are_described_back() {
        let u = user(&[
            "on",
            ">pw",
            "~obj:*",
            "%R~read*",
            "&chan",
            "+@all",
            "-@dangerous",
            "+client|id",
        ]);
        let text = String::from_utf8(u.describe()).unwrap();
        assert!(
            text.starts_with(&format!(
                "on #{} ~obj:* %R~read* resetchannels &chan +@all -@dangerous",
                crate::sha256::hex_digest(b"pw")
            )),
            "{text}"
        );
        let u = user(&["-@all", "+get", "+select|0"]);
        assert_eq!(u.root().describe_commands(), "-@all +select|0 +get");
    }

    #[test]
    fn every_category_is_described_back_alone() {
        for cat in ACL_CATEGORIES {
            let u = user(&["reset", "+@all", &format!("-@{cat}")]);
            assert_eq!(u.root().describe_commands(), format!("+@all -@{cat}"));
            let u = user(&["reset", "-@all", &format!("+@{cat}")]);
            assert_eq!(u.root().describe_commands(), format!("-@all +@{cat}"));
        }
    }

    #[test]
    fn errors_are_redis_s() {
        let mut u = User::new(b"u", false);
        assert_eq!(u.apply(b"+nosuch", false), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"-select|0", false), Err(RuleError::UnknownCommand));
        assert_eq!(
            u.apply(b"+config|get|x", false),
            Err(RuleError::FirstArgOfSubcommand)
        );
        assert_eq!(u.apply(b"+select|", false), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"%X~a", false), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"#abc", false), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope", false), Err(RuleError::NoSuchPassword));
        u.apply(b"allkeys", false).unwrap();
        assert_eq!(u.apply(b"~a", false), Err(RuleError::KeyPatternAfterAll));
        u.apply(b"allchannels", false).unwrap();
        assert_eq!(
            u.apply(b"&a", false),
            Err(RuleError::ChannelPatternAfterAll)
        );
        assert_eq!(u.apply(b"bogus", false), Err(RuleError::Syntax));
    }

    #[test]
    fn keys_are_checked_by_access() {
        let u = user(&["+@all", "%R~r*", "%W~w*"]);
        let get = lookup(b"get").unwrap();
        let set = lookup(b"set").unwrap();
        assert_eq!(u.check(get, &Argv::from_args(["get", "r1"])), Ok(()));
        assert_eq!(
            u.check(get, &Argv::from_args(["get", "w1"])),
            Err(Denied::Key(1))
        );
        assert_eq!(u.check(set, &Argv::from_args(["set", "w1", "v"])), Ok(()));
        assert_eq!(
            u.check(set, &Argv::from_args(["set", "w1", "v", "get"])),
            Err(Denied::Key(1))
        );
        let copy = lookup(b"lmove").unwrap();
        assert_eq!(
            u.check(
                copy,
                &Argv::from_args(["lmove", "r1", "w1", "left", "left"])
            ),
            Err(Denied::Key(1))
        );
    }

    #[test]
    fn selectors_allow_alternatives() {
        let mut u = user(&["-@all", "+get", "~a*"]);
        u.apply(b"(+set ~b*)", false).unwrap();
        let get = lookup(b"get").unwrap();
        let set = lookup(b"set").unwrap();
        assert_eq!(u.check(get, &Argv::from_args(["get", "a1"])), Ok(()));
        assert_eq!(u.check(set, &Argv::from_args(["set", "b1", "v"])), Ok(()));
        assert_eq!(
            u.check(set, &Argv::from_args(["set", "a1", "v"])),
            Err(Denied::Key(1))
        );
        assert_eq!(
            u.check(get, &Argv::from_args(["get", "c"])),
            Err(Denied::Key(1))
        );
        assert_eq!(
            String::from_utf8(u.describe()).unwrap(),
            "off ~a* resetchannels -@all +get (~b* resetchannels -@all +set)"
        );
    }

    #[test]
    fn passwords_match_by_digest() {
        let u = user(&[">secret"]);
        assert!(u.password_matches(b"secret"));
        assert!(!u.password_matches(b"secreT"));
        let u = user(&[&format!("#{}", crate::sha256::hex_digest(b"x"))]);
        assert!(u.password_matches(b"x"));
    }

    #[test]
    fn merge_selectors() {
        let args: Vec<&[u8]> = vec![b"on", b"(~a", b"+get)", b"+set"];
        assert_eq!(
            merge_selector_args(&args).unwrap(),
            vec![b"on".to_vec(), b"(~a +get)".to_vec(), b"+set".to_vec()]
        );
        let args: Vec<&[u8]> = vec![b"(~a", b"+get"];
        assert_eq!(merge_selector_args(&args), Err(0));
    }
}
