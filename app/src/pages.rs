//! One page (or page-sized component) per file.

pub mod audit;
pub mod auth;
pub mod calendar;
pub mod custom_fields;
pub mod customer;
pub mod customer_table;
pub mod customers;
pub mod duplicates;
pub mod format;
pub mod home;
pub mod import;
pub mod lifecycle;
pub mod pipeline;
pub mod pool;
pub mod sync_status;
pub mod tasks;
pub mod team;
