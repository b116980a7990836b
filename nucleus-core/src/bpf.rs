//! Classic BPF, the language of seccomp filters: the instruction format, a builder that
//! lays a program out so that every jump reaches its target, and a binary search over
//! ranges of values.
//!
//! The builder emits a program backwards, from its last instruction to its first, as
//! Chromium's seccomp code generator does. Classic BPF only jumps forward, so every jump
//! then goes to code already placed, and its distance is known when it is emitted. A
//! conditional jump reaches 255 instructions at most; a farther target gets a `JA`
//! (32-bit offset) next to the jump, which the jump takes instead.

use std::collections::HashMap;

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u16,
    pub(crate) jt: u8,
    pub(crate) jf: u8,
    pub(crate) k: u32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());

impl Insn {
    /// As one number, for plans: `code << 48 | jt << 40 | jf << 32 | k`.
    pub(crate) fn pack(self) -> u64 {
        (self.code as u64) << 48 | (self.jt as u64) << 40 | (self.jf as u64) << 32 | self.k as u64
    }

    pub(crate) fn unpack(i: u64) -> Insn {
        Insn { code: (i >> 48) as u16, jt: (i >> 40) as u8, jf: (i >> 32) as u8, k: i as u32 }
    }
}

const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const GOTO: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The longest conditional jump: its offsets are 8 bits.
const REACH: usize = u8::MAX as usize;

/// A comparison of the accumulator with a constant, by a conditional jump.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

impl Cmp {
    fn code(self) -> u16 {
        let op = match self {
            Cmp::Eq => libc::BPF_JEQ,
            Cmp::Gt => libc::BPF_JGT,
            Cmp::Ge => libc::BPF_JGE,
        };
        (libc::BPF_JMP | op | libc::BPF_K) as u16
    }
}

/// An emitted instruction, as its index counted from the end of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Builds a program from its end; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    /// The program so far, last instruction first.
    reversed: Vec<Insn>,
    /// The latest `RET` of each value, shared by the jumps that can reach it.
    returns: HashMap<u32, Label>,
}

impl Builder {
    /// Return `k`.
    pub(crate) fn ret(&mut self, k: u32) -> Label {
        match self.returns.get(&k) {
            Some(&label) if self.distance(label) <= REACH => label,
            _ => {
                let label = self.push(RET, 0, 0, k);
                self.returns.insert(k, label);
                label
            }
        }
    }

    /// Load the 32-bit word at byte `offset` of the input into the accumulator, then go
    /// on at `next`.
    pub(crate) fn load(&mut self, offset: u32, next: Label) -> Label {
        self.fall_to(next);
        self.push(LOAD, 0, 0, offset)
    }

    /// `A &= mask`, then go on at `next`.
    pub(crate) fn and(&mut self, mask: u32, next: Label) -> Label {
        self.fall_to(next);
        self.push(AND, 0, 0, mask)
    }

    /// Go to `yes` if the accumulator compares true with `k`, else to `no`.
    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, yes: Label, no: Label) -> Label {
        if yes == no {
            return yes;
        }
        // The second trampoline, if any, moves the first target one further away.
        let yes = self.within_reach(yes, 1);
        let no = self.within_reach(no, 0);
        let (jt, jf) = (self.distance(yes) as u8, self.distance(no) as u8);
        self.push(cmp.code(), jt, jf, k)
    }

    /// Dispatch on the accumulator by binary search. `ranges` are sorted by their start;
    /// each covers the values from its start to the next one's (the last to `u32::MAX`),
    /// and the first starts at 0. `leaf` emits the code of a range when the search
    /// reaches it, so that leaves sit next to the comparisons that lead to them.
    pub(crate) fn ranges<T>(
        &mut self,
        ranges: &[(u32, T)],
        leaf: &mut impl FnMut(&mut Self, &T) -> Label,
    ) -> Label {
        match ranges {
            [] => panic!("no range to dispatch to"),
            [(_, only)] => leaf(self, only),
            _ => {
                let mid = ranges.len() / 2;
                let high = self.ranges(&ranges[mid..], leaf);
                let low = self.ranges(&ranges[..mid], leaf);
                self.jump(Cmp::Ge, ranges[mid].0, high, low)
            }
        }
    }

    /// The program, starting at `entry`.
    pub(crate) fn finish(mut self, entry: Label) -> Vec<Insn> {
        self.fall_to(entry);
        self.reversed.reverse();
        self.reversed
    }

    /// The offset a jump emitted next needs to reach `target`.
    fn distance(&self, target: Label) -> usize {
        self.reversed.len() - 1 - target.0
    }

    /// `target`, or a `JA` to it when a jump emitted after `later` more instructions
    /// could not reach it.
    fn within_reach(&mut self, target: Label, later: usize) -> Label {
        if self.distance(target) + later <= REACH {
            target
        } else {
            self.goto(target)
        }
    }

    /// Make the next instruction continue at `next`: straight on if `next` is the last
    /// one emitted, else through a `JA`.
    fn fall_to(&mut self, next: Label) {
        if self.distance(next) != 0 {
            self.goto(next);
        }
    }

    fn goto(&mut self, target: Label) -> Label {
        let offset = self.distance(target) as u32;
        self.push(GOTO, 0, 0, offset)
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.reversed.push(Insn { code, jt, jf, k });
        Label(self.reversed.len() - 1)
    }
}

/// Check `program` as the kernel does when it loads one: known instructions only, every
/// jump inside the program, aligned loads inside `data_len` bytes, and a `RET` at the end.
#[cfg(test)]
pub(crate) fn check(program: &[Insn], data_len: usize) {
    assert!(!program.is_empty() && program.len() <= libc::BPF_MAXINSNS as usize, "length {}", program.len());
    assert_eq!(program.last().unwrap().code, RET, "the last instruction must return");
    for (pc, i) in program.iter().enumerate() {
        let targets = match i.code {
            GOTO => vec![i.k as usize],
            c if [Cmp::Eq, Cmp::Gt, Cmp::Ge].iter().any(|cmp| cmp.code() == c) => vec![i.jt as usize, i.jf as usize],
            LOAD => {
                assert!(i.k % 4 == 0 && (i.k as usize) + 4 <= data_len, "load at {} out of bounds", i.k);
                vec![]
            }
            AND | RET => vec![],
            other => panic!("instruction {pc}: unknown code {other:#x}"),
        };
        for t in targets {
            assert!(pc + 1 + t < program.len(), "instruction {pc} jumps out of the program");
        }
    }
}

/// Run a program that passed [`check`] on `data`, as the kernel would.
#[cfg(test)]
pub(crate) fn run(program: &[Insn], data: &[u8]) -> u32 {
    let (mut pc, mut a) = (0, 0u32);
    loop {
        let i = program[pc];
        pc += 1;
        let taken = match i.code {
            LOAD => {
                a = u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap());
                continue;
            }
            AND => {
                a &= i.k;
                continue;
            }
            GOTO => {
                pc += i.k as usize;
                continue;
            }
            RET => return i.k,
            c if c == Cmp::Eq.code() => a == i.k,
            c if c == Cmp::Gt.code() => a > i.k,
            _ => a >= i.k,
        };
        pc += if taken { i.jt } else { i.jf } as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(program: &[Insn], a: u32) -> u32 {
        run(program, &a.to_ne_bytes())
    }

    #[test]
    #[should_panic(expected = "instruction 0 jumps out of the program")]
    fn check_refuses_jumps_out_of_the_program() {
        check(&[Insn { code: Cmp::Eq.code(), jt: 1, jf: 0, k: 0 }, Insn { code: RET, jt: 0, jf: 0, k: 0 }], 4);
    }

    /// A program that returns the index of the range `value` falls in, with `pad`
    /// instructions of dead weight in front of each return.
    fn dispatch(starts: &[u32], pad: usize) -> Vec<Insn> {
        let ranges: Vec<(u32, u32)> = starts.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
        let mut b = Builder::default();
        let tree = b.ranges(&ranges, &mut |b, &i| (0..pad).fold(b.ret(i), |next, _| b.and(u32::MAX, next)));
        let entry = b.load(0, tree);
        b.finish(entry)
    }

    fn check_dispatch(starts: &[u32], program: &[Insn]) {
        check(program, 4);
        for (i, &s) in starts.iter().enumerate() {
            for v in [s, s.saturating_add(1), s.saturating_sub(1)] {
                let expected = starts.iter().rposition(|&start| start <= v).unwrap() as u32;
                assert_eq!(run_on(program, v), expected, "value {v} (range {i})");
            }
        }
        assert_eq!(run_on(program, u32::MAX), starts.len() as u32 - 1);
    }

    #[test]
    fn range_search_finds_each_range_at_its_edges() {
        for starts in [vec![0], vec![0, 1], vec![0, 5, 6, 7, 100, 0x4000_0000, u32::MAX], (0..37).map(|i| i * 3).collect()] {
            let program = dispatch(&starts, 0);
            check_dispatch(&starts, &program);
            // Load, one comparison per inner node of the tree, one return per range.
            assert_eq!(program.len(), 1 + (starts.len() - 1) + starts.len(), "{program:?}");
        }
    }

    #[test]
    fn far_targets_are_reached_through_trampolines() {
        let starts: Vec<u32> = (0..64).map(|i| i * 10).collect();
        let program = dispatch(&starts, 20);
        assert!(program.len() > 4 * REACH, "{} instructions", program.len());
        let trampolines = program.iter().filter(|i| i.code == GOTO && i.k as usize > REACH).count();
        assert!(trampolines > 0, "no jump needed a trampoline");
        check_dispatch(&starts, &program);
    }

    #[test]
    fn a_jump_reaches_a_target_at_the_edge_when_the_other_needs_a_trampoline() {
        let mut b = Builder::default();
        let one = b.ret(1);
        (0..2 * REACH).fold(one, |next, _| b.and(u32::MAX, next));
        let two = b.ret(2);
        // `two` sits at the edge of reach; the trampoline to `one` would push it past.
        (0..REACH).fold(two, |next, _| b.and(u32::MAX, next));
        let test = b.jump(Cmp::Eq, 0, two, one);
        let entry = b.load(0, test);
        let program = b.finish(entry);
        check(&program, 4);
        assert_eq!((run_on(&program, 0), run_on(&program, 1)), (2, 1));
    }

    #[test]
    fn returns_are_shared_within_reach() {
        let mut b = Builder::default();
        let first = b.ret(7);
        assert_eq!(b.ret(7), first);
        let mut next = first;
        for _ in 0..REACH + 1 {
            next = b.and(1, next);
        }
        assert_ne!(b.ret(7), first, "out of reach: a new return");
    }

    #[test]
    fn instructions_pack_losslessly() {
        let i = Insn { code: 0x15, jt: 0xfe, jf: 3, k: 0xdead_beef };
        assert_eq!(i.pack(), 0x0015_fe03_dead_beef);
        assert_eq!(Insn::unpack(i.pack()), i);
    }
}
