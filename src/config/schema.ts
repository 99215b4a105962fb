import { z } from 'zod';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/, 'must be a scope token');

/**
 * What a client registering itself (RFC 7591) may be: the policy an initial access token carries (admin API, CLI), or
 * anonymous registration's (`registration.open`). oidc/registration.ts applies it where the client is recorded.
 */
export const registrationPolicySchema = z
  .object({
    grant_types: z
      .array(z.enum(['authorization_code', 'refresh_token', DEVICE_GRANT]))
      .min(1)
      .describe('the grant types a registered client may have (its own are checked against these; none given: these)'),
    scopes: z.array(scopeToken).min(1).default(['openid']).describe('the scopes it may ask for (its `scope` metadata)'),
    device_flow_scopes: z.array(scopeToken).min(1).optional().describe("set on every client it registers (RFC 8628 clients' ceiling)"),
    public_only: z.boolean().default(false).describe('only public clients (token_endpoint_auth_method none)'),
    allow_choices: z
      .boolean()
      .default(false)
      .describe("a client may choose its own qr_login, handoff_proximity, handoff_number_matching (else Handoff's defaults)"),
  })
  .strict();
export type RegistrationPolicy = z.infer<typeof registrationPolicySchema>;

/**
 * Every setting Handoff reads, with its meaning. `config/*.json` files and environment variables are merged
 * into one object that must satisfy this schema before anything starts (see `load.ts`).
 */
export const configSchema = z
  .object({
    env: z.enum(['development', 'test', 'production']).describe('NODE_ENV: production never creates demo data'),
    port: z.number().int().min(0).max(65535).describe('PORT: public HTTP port (0 picks a free one)'),
    adminPort: z.number().int().min(0).max(65535).describe('ADMIN_PORT: admin API port, bound to 127.0.0.1 only'),
    adminHost: z.string().min(1).describe('ADMIN_HOST: interface of the admin API (default 127.0.0.1)'),
    issuer: z.url().optional().describe('ISSUER: public issuer URL; default http://localhost:$PORT'),
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional()
      .describe('DATABASE_URL: PostgreSQL; unset selects embedded PGlite in DATA_DIR'),
    dataDir: z.string().min(1).describe('DATA_DIR: where embedded PGlite keeps its files'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).describe('LOG_LEVEL'),
    terminalLocale: z.string().max(64).optional().describe('LANG: the language of text printed to a terminal (npm run demo:device)'),
    proxy: z.boolean().describe('PROXY: trust X-Forwarded-* headers from a reverse proxy'),
    proxyHops: z
      .number()
      .int()
      .min(1)
      .max(10)
      .describe('PROXY_HOPS: trusted proxies in front; the client IP is the entry that many from the right of X-Forwarded-For'),
    deviceCodeTtl: z.number().int().min(60).max(3600).describe('DEVICE_CODE_TTL: device code lifetime, seconds'),
    accessTokenTtl: z.number().int().min(60).max(86400).describe('access token lifetime, seconds'),
    idTokenTtl: z.number().int().min(60).max(86400).describe('ID token lifetime, seconds'),
    refreshTokenTtl: z.number().int().min(3600).describe('refresh token lifetime, seconds'),
    sessionTtl: z.number().int().min(300).describe('browser session lifetime, seconds'),
    interactionTtl: z.number().int().min(60).max(7200).describe('login/consent interaction lifetime, seconds'),
    bodyLimitBytes: z.number().int().min(1024).max(1048576).describe('largest request body accepted'),
    purgeIntervalSeconds: z.number().int().min(1).describe('how often expired rows are purged'),
    purgeBatchSize: z.number().int().min(1).max(100000).describe('rows deleted per purge statement'),
    adminToken: z
      .string()
      .min(32, 'must be at least 32 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional()
      .describe('ADMIN_TOKEN: bearer token of the admin API; unset: one is generated and written to DATA_DIR/admin-token'),
    login: z
      .object({
        maxFailuresPerAccountAndAddress: z.number().int().min(1).describe('wrong passwords for one account from one address'),
        maxFailuresPerAddress: z.number().int().min(1).describe('wrong passwords from one address, all accounts'),
        maxFailuresPerAccount: z
          .number()
          .int()
          .min(1)
          .describe('wrong passwords for one account from browsers it never signed in from, all addresses together'),
        maxFailuresPerKnownBrowser: z.number().int().min(1).describe('wrong passwords from a browser that signed in to the account before'),
        windowSeconds: z.number().int().min(1).max(86400),
        knownBrowserDays: z.number().int().min(1).max(730).describe('how long a browser is remembered after a sign-in'),
      })
      .strict()
      .describe('failed sign-in throttling'),
    accounts: z
      .object({
        freshSignInSeconds: z
          .number()
          .int()
          .min(30)
          .max(3600)
          .describe('how recent a sign-in must be to add or remove a passkey (a passkey sign-in once the account has one)'),
        signup: z.boolean().describe('the sign-in page offers "Create an account" (username, email, and a password or a passkey)'),
        signupsPerAddress: z.number().int().min(1).describe('accounts one address may create per hour'),
        linkSeconds: z
          .number()
          .int()
          .min(300)
          .max(3600)
          .describe('how long a mailed link (address confirmation, password reset) works; also the window of the mail limits'),
        mailsPerAccount: z.number().int().min(1).max(20).describe('mails (reset or confirmation links) one account is sent per window'),
        resetsPerAddress: z.number().int().min(1).describe('"Forgot password" requests one address may make per window'),
      })
      .strict()
      .describe('the account pages, self-service sign-up and recovery'),
    mail: z
      .object({
        smtpUrl: z
          .string()
          .regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://')
          .nullable()
          .describe('SMTP_URL: where mail is sent (smtp://user:pass@host:587, smtps://…); unset: messages are written to the log'),
        from: z.string().min(3).max(320).describe('MAIL_FROM: the From of every message'),
        maxQueued: z.number().int().min(1).describe('messages waiting to be sent, at most (more are dropped, and logged)'),
      })
      .strict()
      .describe('outgoing mail (address confirmation, password reset)'),
    device: z
      .object({
        pollInterval: z.number().int().min(1).max(60).describe('seconds a device waits between polls (RFC 8628 3.2 interval)'),
        maxFailedCodesPerSession: z.number().int().min(1).describe('wrong user codes a browser session may enter per window'),
        maxFailedCodesPerIp: z.number().int().min(1).describe('wrong user codes an IP address may enter per window'),
        failedCodeWindowSeconds: z.number().int().min(1).max(86400),
        maxAuthorizationsPerIp: z.number().int().min(1).describe('device authorizations an IP address may start per window'),
        maxAuthorizationsPerClient: z
          .number()
          .int()
          .min(1)
          .nullable()
          .describe('circuit breaker: device authorizations one client may start per window, all addresses together (null: off)'),
        authorizationWindowSeconds: z.number().int().min(1).max(86400),
        maxUnknownDeviceCodesPerIp: z.number().int().min(1).describe('unknown device_code values an IP address may present per window'),
        unknownDeviceCodeWindowSeconds: z.number().int().min(1).max(86400),
        maxQrImagesPerIp: z.number().int().min(1).describe('QR images one address may fetch per minute'),
      })
      .strict()
      .describe('device flow pacing and abuse limits (RFC 8628 3.5, 5.1)'),
    realtime: z
      .object({
        maxWaitSeconds: z.number().int().min(1).max(300).describe('cap on Prefer: wait=N for held token requests'),
        maxConcurrentWaits: z.number().int().min(1).describe('held requests plus status streams one instance holds; beyond: 503'),
        maxWaitsPerAddress: z
          .number()
          .int()
          .min(1)
          .describe('held requests plus streams one address may hold on one instance; beyond: 429'),
        maxWaitsPerHandoff: z.number().int().min(1).describe('held requests plus streams on one device code or desktop code; beyond: 429'),
        heartbeatSeconds: z.number().int().min(1).max(120).describe('comment lines on status streams so proxies keep them open'),
        retryMilliseconds: z.number().int().min(100).max(60000).describe('the reconnect hint sent to status streams'),
      })
      .strict()
      .describe('held requests and status streams'),
    qrLogin: z
      .object({
        ticketSeconds: z.number().int().min(5).max(600).describe('life of a desktop QR ticket before it is scanned'),
        rotateSeconds: z.number().int().min(2).max(600).describe('how often an open login page shows a fresh QR code'),
        maxRotations: z.number().int().min(1).max(100).describe('fresh codes before the page asks for a click'),
        confirmSeconds: z.number().int().min(10).max(900).describe('time the phone has to decide once it scanned'),
        approvedSeconds: z.number().int().min(2).max(120).describe('time the desktop has to finish once the phone approved'),
        maxTicketsPerIp: z.number().int().min(1).describe('tickets one address may create per minute'),
        maxScansPerIp: z.number().int().min(1).describe('ticket scans (valid or not) one address may make per minute'),
      })
      .strict()
      .describe('desktop scan-to-sign-in'),
    ciba: z
      .object({
        requestSeconds: z.number().int().min(30).max(3600).describe('how long a backchannel request waits for the phone (expires_in)'),
        maxPerClient: z.number().int().min(1).describe('backchannel requests one client may make per window, all users'),
        maxPerClientAndUser: z.number().int().min(1).describe('backchannel requests one client may make for one user per window'),
        maxPerUser: z
          .number()
          .int()
          .min(1)
          .describe('backchannel requests for one user per window, all clients (a flood cannot bury a phone)'),
        windowSeconds: z.number().int().min(1).max(3600),
      })
      .strict()
      .describe('backchannel approval (OpenID CIBA Core 1.0)'),
    reports: z
      .object({
        webhookUrl: z
          .url({ protocol: /^https?$/ })
          .nullable()
          .describe('where "I didn\'t start this" reports are POSTed as JSON (null: no webhook)'),
        webhookSecret: z
          .string()
          .min(16)
          .nullable()
          .describe('HMAC-SHA256 key of the X-Handoff-Signature header (required with webhookUrl)'),
        maxAttempts: z.number().int().min(1).max(20).describe('deliveries tried per report, with doubling backoff from 1 s'),
        maxPerAddress: z.number().int().min(1).describe('reports recorded per phone address per window'),
        maxPerAccount: z.number().int().min(1).describe('reports recorded per account per window'),
        windowSeconds: z.number().int().min(60).max(86400),
        maxQueued: z
          .number()
          .int()
          .min(1)
          .describe('webhook deliveries waiting at once, all instances together; beyond, the oldest are dropped'),
        maxInFlight: z.number().int().min(1).max(64).describe('webhook deliveries one instance sends at once'),
      })
      .strict()
      .refine((r) => r.webhookUrl === null || r.webhookSecret !== null, {
        message: 'webhookSecret is required with webhookUrl',
        path: ['webhookSecret'],
      })
      .describe('reports of cross-device sign-ins the user did not start (RFC 10027)'),
    identityProviders: z
      .array(
        z
          .object({
            id: z
              .string()
              .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lower-case letters, digits and -')
              .describe('in the redirect URI: <ISSUER>/login/<id>/callback'),
            name: z.string().min(1).max(64).describe('what "Continue with <name>" says'),
            issuer: z.url().describe('the upstream issuer (its discovery document is read from there); https, or http on localhost'),
            client_id: z.string().min(1).max(255),
            client_secret: z.string().min(1).max(1024).optional().describe('unset: a public client (PKCE only)'),
            scopes: z
              .array(z.string().regex(/^[\x21-\x7e]{1,64}$/))
              .min(1)
              .default(['openid', 'email', 'profile']),
            enabled: z.boolean().default(true),
            create_accounts: z
              .boolean()
              .default(true)
              .describe('a first sign-in makes an account (false: only accounts linked beforehand)'),
            link_verified_email: z
              .boolean()
              .default(false)
              .describe("an upstream's verified email signs in to the account with that verified address"),
            keep_tokens: z
              .boolean()
              .default(false)
              .describe(
                "keep the upstream's access and refresh tokens on the account's link, sealed with a key derived from the cookie keys",
              ),
          })
          .strict()
          .refine((u) => u.scopes.includes('openid'), { message: 'scopes must include openid', path: ['scopes'] }),
      )
      .describe('upstream OpenID Providers people may sign in with (more are added through the admin API)'),
    registration: z
      .object({
        open: registrationPolicySchema
          .nullable()
          .describe('anonymous client registration (RFC 7591 with no initial access token) under this policy; null: refused'),
        openPerAddress: z.number().int().min(1).describe('anonymous registrations one address may make per hour'),
      })
      .strict()
      .describe('client self-registration (RFC 7591/7592)'),
    scrypt: z
      .object({
        cost: z
          .number()
          .int()
          .refine((n) => n >= 1024 && (n & (n - 1)) === 0, 'must be a power of two >= 1024'),
        blockSize: z.number().int().min(1),
        parallelization: z.number().int().min(1),
      })
      .strict()
      .describe('password hashing parameters for new hashes'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** Settings to override, nested objects partially (`{ device: { pollInterval: 1 } }`). */
export type ConfigOverrides = { [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K] };
