//! [`crate::service_account_store!`]: the whole `ServiceAccountStore` implementation, written once.

/// The columns [`crate::rows::service_account`] reads.
pub const SERVICE_ACCOUNT_COLUMNS: &str =
    "account_id, display_name, departments, client_id, status, revision, create_time, update_time";

/// `impl ServiceAccountStore for $store`, expanded in a backend's crate root module, which
/// provides `claim_key`, `record`, `db_err`, `self.write(ctx)`, `self.read(scope)` and
/// `self.commit(tx)` as for the other stores.
#[macro_export]
macro_rules! service_account_store {
    ($store:ty) => {
        impl cityserve_store::ServiceAccountStore for $store {
            async fn create_service_account(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                home: &cityserve_domain::DepartmentId,
                account: &cityserve_domain::ServiceAccount,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceAccount> {
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, home, idem, "service_account", account.id.as_str()).await? {
                    let a = read_service_account(&mut tx, &id).await?;
                    self.commit(tx).await?;
                    return Ok(a);
                }
                let now = cityserve_store::now_micros();
                sqlx::query(
                    "INSERT INTO service_accounts (account_id, display_name, departments, client_id, status, created_by,
                         revision, create_time, update_time)
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
                )
                .bind(account.id.as_str())
                .bind(&account.display_name)
                .bind($crate::service_accounts::joined(&account.departments))
                .bind(&account.client_id)
                .bind(account.status.as_str())
                .bind(&ctx.actor.subject)
                .bind(crate::at(now))
                .bind(crate::at(now))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let payload = serde_json::json!({ "service_account": account.id.as_str() });
                let name = cityserve_store::resource::service_account(account.id.as_str());
                crate::record(&mut tx, ctx, home, &name, payload).await?;
                let a = read_service_account(&mut tx, account.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(a)
            }

            async fn get_service_account(
                &self,
                scope: &cityserve_domain::TenantScope,
                id: &cityserve_domain::ServiceAccountId,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceAccount> {
                let mut tx = self.read(scope).await?;
                let a = read_service_account(&mut tx, id.as_str()).await?;
                tx.finish().await?;
                Ok(a)
            }

            async fn list_service_accounts(
                &self,
                scope: &cityserve_domain::TenantScope,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::ServiceAccount>> {
                let sql = format!(
                    "SELECT {} FROM service_accounts WHERE account_id > $1 ORDER BY account_id LIMIT $2",
                    $crate::service_accounts::SERVICE_ACCOUNT_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items =
                    rows.iter().map($crate::rows::service_account).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |a| a.id.to_string()))
            }

            async fn update_service_account(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                home: &cityserve_domain::DepartmentId,
                account: &cityserve_domain::ServiceAccount,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceAccount> {
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                let done = sqlx::query(
                    "UPDATE service_accounts SET display_name = $1, departments = $2, client_id = $3, status = $4,
                         revision = revision + 1, update_time = $5
                     WHERE account_id = $6 AND revision = $7",
                )
                .bind(&account.display_name)
                .bind($crate::service_accounts::joined(&account.departments))
                .bind(&account.client_id)
                .bind(account.status.as_str())
                .bind(crate::at(now))
                .bind(account.id.as_str())
                .bind(expected_revision)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    read_service_account(&mut tx, account.id.as_str()).await?;
                    return Err(cityserve_store::StoreError::Conflict);
                }
                let payload = serde_json::json!({
                    "service_account": account.id.as_str(),
                    "status": account.status.as_str(),
                });
                let name = cityserve_store::resource::service_account(account.id.as_str());
                crate::record(&mut tx, ctx, home, &name, payload).await?;
                let a = read_service_account(&mut tx, account.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(a)
            }

            async fn service_account_of_client(
                &self,
                scope: &cityserve_domain::TenantScope,
                client: &str,
            ) -> cityserve_store::StoreResult<Option<cityserve_domain::ServiceAccount>> {
                // An empty client ID is every account without one: it names none.
                if client.is_empty() {
                    return Ok(None);
                }
                let sql = format!(
                    "SELECT {} FROM service_accounts WHERE client_id = $1 AND status = 'active'",
                    $crate::service_accounts::SERVICE_ACCOUNT_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(client)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                row.as_ref().map($crate::rows::service_account).transpose()
            }
        }

        /// One service account by ID ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_service_account(
            conn: &mut crate::Conn,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::ServiceAccount> {
            let sql = format!(
                "SELECT {} FROM service_accounts WHERE account_id = $1",
                $crate::service_accounts::SERVICE_ACCOUNT_COLUMNS
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::service_account(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }
    };
}

/// An account's departments as stored: sorted, comma-separated.
pub fn joined(departments: &[cityserve_domain::DepartmentId]) -> String {
    departments.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(",")
}
