//! Risk and control: guard and check, never decide.
//!
//! Nothing here creates an order. Each check either lets a decision the strategy made
//! through or refuses it with a [`Refusal`] code.
//!
//! Layout:
//! - [`control`]: `entry_enabled`, `exit_enabled`, `global_lock` flags.
//! - [`breaker`]: the global circuit breaker with half-open recovery.
//! - [`limits`]: a sliding-window order-rate limit and the shared exposure budget.
//! - [`portfolio`]: `PortfolioRisk`, the state all symbols share (equity, breaker,
//!   total exposure, global rate, global flags, gateway health, intent ids).

pub mod breaker;
pub mod control;
pub mod limits;
pub mod portfolio;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use control::ControlFlags;
pub use portfolio::{PortfolioRisk, RiskConfig};

/// Why a decision was refused. Every refusal carries one of these codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    GlobalLock,
    EntryDisabled,
    ExitDisabled,
    GatewayDown,
    /// The gateway restarted: no order until its snapshot has been compared with the books.
    VenueReconciling,
    FeedStale,
    FeedGap,
    BreakerOpen,
    BreakerProbeInFlight,
    MaxPosition,
    SymbolExposure,
    TotalExposure,
    SymbolRate,
    GlobalRate,
    Cooldown,
    /// An opposite-direction signal while a position is open (one-way positions).
    ReversalDisabled,
    /// The intent failed validation; the field is named.
    InvalidIntent(&'static str),
}

impl Refusal {
    /// Stable reason code for logs and metrics.
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::GlobalLock => "global_lock",
            Refusal::EntryDisabled => "entry_disabled",
            Refusal::ExitDisabled => "exit_disabled",
            Refusal::GatewayDown => "gateway_down",
            Refusal::VenueReconciling => "venue_reconciling",
            Refusal::FeedStale => "feed_stale",
            Refusal::FeedGap => "feed_gap",
            Refusal::BreakerOpen => "breaker_open",
            Refusal::BreakerProbeInFlight => "breaker_probe_in_flight",
            Refusal::MaxPosition => "max_position",
            Refusal::SymbolExposure => "symbol_exposure",
            Refusal::TotalExposure => "total_exposure",
            Refusal::SymbolRate => "symbol_rate",
            Refusal::GlobalRate => "global_rate",
            Refusal::Cooldown => "cooldown",
            Refusal::ReversalDisabled => "reversal_disabled",
            Refusal::InvalidIntent(_) => "invalid_intent",
        }
    }
}
