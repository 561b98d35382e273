//! The client accounts every proxy the tests start accepts, and the backend account of the
//! test clusters.

use shardgate_config::{AuthPlugin, User};

pub const USER: &str = "app";
pub const PASSWORD: &str = "app";
/// An account that authenticates with caching_sha2_password.
pub const SHA2_USER: &str = "app_sha2";
/// A second caching_sha2_password account, whose first login goes over TLS.
pub const SHA2_TLS_USER: &str = "app_sha2_tls";
/// A mysql_native_password account whose password ([`PASSWORD`]) the config holds only in
/// its stored form.
pub const HASHED_USER: &str = "app_hashed";
/// An account with the `admin` role (password [`PASSWORD`]): shardgate's admin statements.
pub const ADMIN_USER: &str = "ops";
/// A caching_sha2_password account whose password ([`PASSWORD`]) the config holds only in
/// its stored form ([`SHA2_STORED_FORM`]).
pub const SHA2_HASHED_USER: &str = "app_sha2_hashed";
/// A caching_sha2_password account whose password is a canary no log may hold
/// ([`crate::test_log::CANARY_CLIENT_PASSWORD`]).
pub const CANARY_USER: &str = "canary";
/// The backend account of every test cluster's proxy (password
/// [`crate::test_log::CANARY_BACKEND_PASSWORD`]).
pub const BACKEND_USER: &str = "sg_backend";
/// `echo app | shardgate hash-password --plugin caching-sha2-password`
pub const SHA2_STORED_FORM: &str =
    "$A$005$3JKPpURT/At08B36sNgqO0wIj906aF2GjUfU/DxRVp1EwprLkkdrN9kwGVd5x2B";

/// The test accounts, which every proxy the tests start accepts.
pub fn test_users() -> Vec<User> {
    use shardgate_config::Role;
    let user = |name: &str, password: &str, auth_plugin, role| User {
        name: name.into(),
        password: password.into(),
        auth_plugin,
        role,
    };
    vec![
        user(USER, PASSWORD, AuthPlugin::MysqlNativePassword, Role::App),
        user(
            SHA2_USER,
            PASSWORD,
            AuthPlugin::CachingSha2Password,
            Role::App,
        ),
        user(
            SHA2_TLS_USER,
            PASSWORD,
            AuthPlugin::CachingSha2Password,
            Role::App,
        ),
        // SELECT PASSWORD('app')
        user(
            HASHED_USER,
            "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3",
            AuthPlugin::MysqlNativePassword,
            Role::App,
        ),
        user(
            SHA2_HASHED_USER,
            SHA2_STORED_FORM,
            AuthPlugin::CachingSha2Password,
            Role::App,
        ),
        user(
            ADMIN_USER,
            PASSWORD,
            AuthPlugin::MysqlNativePassword,
            Role::Admin,
        ),
        user(
            CANARY_USER,
            crate::test_log::CANARY_CLIENT_PASSWORD,
            AuthPlugin::CachingSha2Password,
            Role::App,
        ),
    ]
}
