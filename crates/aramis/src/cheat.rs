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
//! | `FlipBit` | first message sent in the step (component, hash or reshare) | first reshare | first component | first message of the MAC check (coin opening) |
//! | `InconsistentShare` | owner: gives the two receivers different components; receiver: keeps a component different from the one the other holder has | uses a local copy of its `x` component differing from the other holder's | idem (sends it in the opening) | idem for the output value (enters the check and the release) |
//! | `AddError(e)` | `+e` on the `[alpha * x]` product's reshare | `+e` on the value product's reshare (additive attack) | `+e` on the component it sends | `+e` on the check's `alpha * w` reshare |
//! | `Lie(e)` | receiver: false cross-check hash; owner: `+e` on the last MAC reshare element | `+e` on the MAC half of the reshare (tag forgery) | coordinated lie: `+e` on the component and on the hashed component | release senders: `+e` on the released component / hash; output receiver: coordinated lie in the check's zero-test opening |
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
    /// [`crate::Aramis::mul_bilinear`].
    Bilinear,
    /// [`crate::Aramis::open_all`] / [`crate::Aramis::open_to`].
    Open,
    /// [`crate::Aramis::output_to`] (MAC check, release, confirmation).
    Output,
}

impl Step {
    /// All steps, for test matrices.
    pub const ALL: [Step; 5] = [Step::Input, Step::Mul, Step::Bilinear, Step::Open, Step::Output];
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
