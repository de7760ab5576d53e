"""The only code that talks to Microsoft 365: tokens (msal), Microsoft Graph, Exchange Online admin API.

The rest of the project sees `Tenant` (a Protocol in `m365.protocol`) and the frozen records of
`m365.records`; upstream failures arrive as the typed exceptions of `m365.errors`.

Layers, bottom up:

- `m365.auth` — `TokenProvider`: msal client credentials (secret or certificate), one msal app per
  authority, tokens cached per scope until shortly before expiry, one request per scope however many
  callers wait. msal runs in worker threads.
- `m365.http` — `create_session(settings)` (the one `aiohttp.ClientSession`, trusting `M365_CA_FILE`),
  `Transport`: bearer token, timeout, retries for 429/502/503/504 and connection errors (`Retry-After`
  or backoff with jitter, bounded by attempts and a time budget), one token refresh on 401.
- `m365.odata` — OData literals and filters; every tenant-supplied value in a query goes through it.
- `m365.graph` — `GraphClient`: paging, `$batch`, Graph error bodies → typed errors, typed Graph calls.
- `m365.exchange` — `ExchangeClient`: `InvokeCommand` cmdlets, paging, Exchange errors → typed errors.
- `m365.tenant` — `M365Tenant` (the `Tenant` implementation) and `create_tenant(settings, session)`.

`m365` imports nothing else of the project: settings arrive as any object with the `m365_*` attributes
(`m365.auth.M365Settings`, which `config.Settings` satisfies).
"""
