//! Deliberate deviations, for tests and for `--simulate-cheater`.
//!
//! A party configured with a [`Cheat`] runs the honest protocol except at one
//! point: the first place, inside the public protocol step [`Cheat::step`],
//! where its [`Deviation`] applies. Each cheat fires **at most once** per
//! session (a minimal deviation: one bit, one element). Where each deviation
//! applies, per step:
//!
//! | deviation | input | mul / bilinear | open | output |
//! | --- | --- | --- | --- | --- |
//! | `FlipBit` | first message sent in the step (component, hash or reshare; not the weights owner's single component, whose change is a different input) | first reshare | first component | first message of the MAC check (coin opening) |
//! | `InconsistentShare` | owner: gives the two receivers different components (weights: keeps a copy different from the one it sent); receiver: keeps a component different from the one the other holder has | uses a local copy of its `x` component differing from the other holder's | idem (sends it in the opening) | idem for the output value (enters the check and the release) |
//! | `AddError(e)` | `+e` on the `[alpha * x]` product's reshare (inputs with MAC) | `+e` on the value product's reshare (additive attack) | `+e` on the component it sends | `+e` on the check's `alpha * w` reshare |
//! | `Lie(e)` | receiver: false cross-check hash; owner: `+e` on the last MAC reshare element | mul: `+e` on the MAC half of the reshare (tag forgery); bilinear: `+e` on its share of the layer's check at the checkpoint | coordinated lie: `+e` on the component and on the hashed component | release senders: `+e` on the released component / hash; output receiver: coordinated lie in the check's zero-test opening |
//!
//! The steps added for truncation and comparisons:
//!
//! | deviation | trunc | bitgen | cmp-chain | select | cmp-open |
//! | --- | --- | --- | --- | --- | --- |
//! | `FlipBit` | MAC reshare of the mask's high part (`trunc_values_lazy`, which has none: the opened component) | P1 (in a comparison): its carry shares to P2; otherwise the first message of the daBit's anchors `b_0`, `b_2` | first AND message | first reshare | first component of the opening |
//! | `InconsistentShare` | uses a mask component differing from the other holder's | flips bit L of element 0 in its copy of its component | flips an `x` bit where its AND message depends on it | as mul | sends a component differing from its copy |
//! | `AddError(e)` | `+e` on the opened component | P0: `+e` on its `b_0 b_1` input; P1: in a comparison, a wrong carry of its own adder used consistently (caught by the adder proof alone), in `random_bits` `+e` on its message of `u b_2`; P2: `+e` on its message of `u b_2` | flips a bit of its first AND message | as mul | `+e` on the opened component |
//! | `Lie(e)` | `+e` on the MAC of the mask's high part (its reshare, or its additive share) | `+e` on its message of the anchors' MACs | `+e` on its first share of the AND-gate proof (at the checkpoint) | as mul (`relu_lazy`: `+e` on its additive MAC share) | coordinated lie on component and hash |
//!
//! In the backend's fused layer and truncation (`bilinear_trunc_lazy`) the
//! masked shares go to the layer's king (party `k mod 3` for the session's
//! `k`-th such layer), which sends their sum to both its neighbours: a
//! message to `next` is sent in `linear`, one to `prev` in `trunc`, so
//! `FlipBit` in `linear` alters the king's copy to `next` (or another
//! party's share, where the king is its `next`), in `trunc` the copy to
//! `prev`; `AddError` in `linear` adds to the product, in `trunc` to the
//! opened share; `InconsistentShare` and `Lie` are as in the tables (the
//! layer's operand and claim, the mask's component and additive MAC).
//!
//! A consistent lie by an input owner about its own input (same component to
//! both receivers) is not a deviation: it is a different input, which no
//! protocol can detect.

/// The public protocol steps a cheat can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// [`crate::Aramis::input`].
    Input,
    /// [`crate::Aramis::mul`].
    Mul,
    /// [`crate::Aramis::mul_bilinear`] / [`crate::Aramis::mul_bilinear_values`].
    Bilinear,
    /// [`crate::Aramis::open_all`] / [`crate::Aramis::open_to`].
    Open,
    /// [`crate::Aramis::output_to`] (MAC check, release, confirmation).
    Output,
    /// [`crate::Aramis::trunc`] (masked opening, MAC of the mask's high part).
    Trunc,
    /// Comparison stage 1: component bits, daBits ([`crate::Aramis::random_bits`] too).
    BitGen,
    /// Comparison stage 3: the opening of `msb xor d` mod 2.
    CmpOpen,
    /// Comparison stage 2: the carry-save and ripple-carry ANDs (and their proofs).
    CmpChain,
    /// Comparison stage 4: the product `DReLU(x) * x` (or a select).
    Select,
}

impl Step {
    /// All steps, for test matrices.
    pub const ALL: [Step; 10] = [
        Step::Input,
        Step::Mul,
        Step::Bilinear,
        Step::Open,
        Step::Output,
        Step::Trunc,
        Step::BitGen,
        Step::CmpOpen,
        Step::CmpChain,
        Step::Select,
    ];

    /// Parses a step name as used by `--simulate-cheater PARTY:STEP:DEVIATION`.
    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }

    /// The step's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Input => "input",
            Step::Mul => "mul",
            Step::Bilinear => "linear",
            Step::Open => "open",
            Step::Output => "output",
            Step::Trunc => "trunc",
            Step::BitGen => "bitgen",
            Step::CmpOpen => "cmp-open",
            Step::CmpChain => "cmp-chain",
            Step::Select => "select",
        }
    }
}

/// How a cheating party deviates (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deviation {
    /// Flips the lowest bit of the first byte of the first message it sends.
    FlipBit,
    /// Holds or hands out a share component inconsistent with the other holder's copy.
    InconsistentShare,
    /// Adds an error to a product's reshare (or to a sent component).
    AddError(u128),
    /// Lies in an opening / a check message.
    Lie(u128),
}

impl Deviation {
    /// The deviation's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Deviation::FlipBit => "flip-bit",
            Deviation::InconsistentShare => "inconsistent",
            Deviation::AddError(_) => "add-error",
            Deviation::Lie(_) => "lie",
        }
    }

    /// Parses `flip-bit`, `inconsistent`, `add-error` or `lie` (error 1 for the last two).
    pub fn parse(s: &str) -> Option<Deviation> {
        match s {
            "flip-bit" => Some(Deviation::FlipBit),
            "inconsistent" => Some(Deviation::InconsistentShare),
            "add-error" => Some(Deviation::AddError(1)),
            "lie" => Some(Deviation::Lie(1)),
            _ => None,
        }
    }

    /// One instance of every kind, with the given error for the ones that take one.
    pub fn all(e: u128) -> [Deviation; 4] {
        [
            Deviation::FlipBit,
            Deviation::InconsistentShare,
            Deviation::AddError(e),
            Deviation::Lie(e),
        ]
    }
}

/// A deviation injected into one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cheat {
    pub step: Step,
    pub deviation: Deviation,
}

impl Cheat {
    pub fn new(step: Step, deviation: Deviation) -> Cheat {
        Cheat { step, deviation }
    }
}
