//! Seeded fault injection for the paper gateway. Same seed, same faults.

use std::time::Duration;

use engine::feed::Rng;

/// What to break, and how often.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that an order is rejected (`gateway_risk`).
    pub reject_rate: f64,
    /// Probability that an order is executed but its reply is not sent.
    pub drop_reply_rate: f64,
    /// Delay added to every reply.
    pub extra_latency: Duration,
    /// Stop serving (close both sockets) this long after start.
    pub stop_after: Option<Duration>,
    /// The gateway's clock runs this many milliseconds ahead of the wall clock (negative:
    /// behind) when it judges `expire_at_ns`: clock skew between the hosts.
    pub clock_skew_ms: i64,
}

impl FaultConfig {
    /// Checks the rates are probabilities; the error names the flag.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [("reject_rate", self.reject_rate), ("drop_reply_rate", self.drop_reply_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be within 0..=1, got {rate}"));
            }
        }
        Ok(())
    }
}

/// The decisions for one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderFaults {
    pub reject: bool,
    pub drop_reply: bool,
}

/// Draws faults from a seeded generator.
pub struct FaultPlan {
    config: FaultConfig,
    rng: Rng,
}

impl FaultPlan {
    pub fn new(config: FaultConfig, seed: u64) -> FaultPlan {
        FaultPlan { config, rng: Rng::new(seed ^ 0xFA17_FA17_FA17_FA17) }
    }
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }
    pub fn for_order(&mut self) -> OrderFaults {
        let reject = self.config.reject_rate > 0.0 && self.rng.chance(self.config.reject_rate);
        let drop_reply = self.config.drop_reply_rate > 0.0 && self.rng.chance(self.config.drop_reply_rate);
        OrderFaults { reject, drop_reply }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults_and_rates_roughly_hold() {
        let config = FaultConfig { reject_rate: 0.2, drop_reply_rate: 0.1, ..Default::default() };
        let draw = |seed| {
            let mut plan = FaultPlan::new(config, seed);
            (0..10_000).map(|_| plan.for_order()).collect::<Vec<_>>()
        };
        let a = draw(5);
        assert_eq!(a, draw(5));
        let rejects = a.iter().filter(|f| f.reject).count();
        assert!((1_700..2_300).contains(&rejects), "{rejects}");
        assert!(FaultConfig { reject_rate: 1.5, ..Default::default() }.validate().is_err());
    }
}
