//! How many new products each synthetic user was drawn for lately.
//!
//! The users that score highest for one generated item vector score high for most of them (long
//! histories, large vectors), so unchecked they were drawn for a hundred new products in a few
//! minutes: implausible behaviour, and each of those products then competed with all the others
//! for the same users' top 20 (the time-to-recommendable bench found the items that were never
//! recommended among exactly these users). A user takes at most `max` new products per tumbling
//! window of event time; beyond it the draw goes down the pool to the next users.

pub struct Exposure {
    window_ms: i64,
    max: u32,
    /// Per user: (window index, products drawn for in it).
    users: Vec<(i64, u32)>,
}

impl Exposure {
    pub fn new(users: usize, max: u32, window_ms: u64) -> Self {
        Exposure {
            window_ms: window_ms.max(1) as i64,
            max,
            users: vec![(i64::MIN, 0); users],
        }
    }

    /// Room for users up to index `users - 1` (a stream that meets new users as it goes).
    pub fn grow(&mut self, users: usize) {
        if users > self.users.len() {
            self.users.resize(users, (i64::MIN, 0));
        }
    }

    fn count(&self, user: u32, ts: i64) -> u32 {
        match self.users.get(user as usize) {
            Some(&(w, n)) if w == ts.div_euclid(self.window_ms) => n,
            _ => 0,
        }
    }

    /// Whether `user` may be drawn for one more product at event time `ts`.
    pub fn allows(&self, user: u32, ts: i64) -> bool {
        self.count(user, ts) < self.max
    }

    /// `user` was drawn for a product at `ts`.
    pub fn add(&mut self, user: u32, ts: i64) {
        let n = self.count(user, ts) + 1;
        if let Some(slot) = self.users.get_mut(user as usize) {
            *slot = (ts.div_euclid(self.window_ms), n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_takes_at_most_max_products_per_window() {
        let mut e = Exposure::new(3, 2, 1000);
        assert!(e.allows(0, 10));
        e.add(0, 10);
        e.add(0, 20);
        assert!(!e.allows(0, 999), "two in the window already");
        assert!(e.allows(1, 999), "other users are not affected");
        assert!(e.allows(0, 1000), "the next window starts empty");
        e.add(0, 1000);
        assert!(e.allows(0, 1001));
        // A late product of the previous window: counted from zero again, never a panic.
        assert!(e.allows(0, 500));
        assert!(e.allows(7, 0), "unknown users are not limited");
        e.add(7, 0);
    }
}
