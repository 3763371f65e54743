import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { InvalidRequestError } from '../errors.js';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to its addresses (the system resolver unless a test injects one). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/**
 * Addresses no webhook may reach unless the address itself is listed in WEBHOOK_ALLOWED_HOSTS:
 * loopback, private, link-local (the instance metadata service 169.254.169.254 and
 * fd00:ec2::254 among them), carrier-grade NAT, multicast, reserved and documentation ranges.
 */
const NOT_PUBLIC = (() => {
  const list = new BlockList();
  const v4: Array<[string, number]> = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ];
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  const v6: Array<[string, number]> = [
    ['::', 128],
    ['::1', 128],
    ['64:ff9b::', 96],
    ['100::', 64],
    ['2001:db8::', 32],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ];
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

/** `::ffff:10.0.0.1` is 10.0.0.1: checked as the IPv4 address it carries. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

/** True for an address on the public internet. */
export function isPublicAddress(address: string): boolean {
  const a = unmapped(address);
  const family = isIP(a);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

/** WEBHOOK_ALLOWED_HOSTS, parsed: lower-case names and canonical addresses. */
export interface AllowedHosts {
  names: Set<string>;
  addresses: Set<string>;
}

const canonical = (address: string) => unmapped(address.replace(/^\[|\]$/g, '')).toLowerCase();

/** Parses a comma-separated list of host names or addresses (no ports: any port of a listed host is allowed). */
export function parseAllowedHosts(list: string): AllowedHosts {
  const names = new Set<string>();
  const addresses = new Set<string>();
  for (const raw of list.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const bare = canonical(entry);
    if (isIP(bare)) addresses.add(bare);
    else names.add(entry.replace(/\.$/, ''));
  }
  return { names, addresses };
}

/** Why a webhook URL is refused (HTTP 400 at submission; a terminal outcome at delivery). */
export type WebhookRefusal =
  'webhook_url_invalid' | 'webhook_host_not_allowed' | 'webhook_address_not_allowed' | 'webhook_https_required' | 'webhook_host_unresolved';

export class WebhookNotAllowedError extends InvalidRequestError {
  constructor(code: WebhookRefusal, message: string) {
    super(message, [{ field: 'webhook_url', problem: code }], code);
    this.name = 'WebhookNotAllowedError';
  }
}

/** Where a delivery connects: the URL, its host name (for `Host` and SNI) and the one checked address. */
export interface WebhookTarget {
  url: URL;
  hostname: string;
  address: ResolvedAddress;
}

/**
 * The one policy, at submission and again at each delivery (a name may resolve elsewhere by
 * then: DNS rebinding). A URL is allowed when:
 * - it is `https:` or `http:` with no user info, and its host is listed (name or address, any port);
 * - every address the host resolves to is public, or is itself listed — so a listed name whose
 *   DNS points at 10.0.0.5, 127.0.0.1 or the metadata service is refused unless that address is
 *   listed too;
 * - `http:` only where every address is a listed non-public one (the operator's own network or
 *   machine); a receiver on the public internet needs `https:`.
 * Answers the first resolved address: the delivery connects to that address, never resolving again.
 */
export async function checkWebhookUrl(rawUrl: string, allowedList: string, resolve: HostResolver): Promise<WebhookTarget> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new WebhookNotAllowedError('webhook_url_invalid', 'webhook_url must be an absolute http(s) URL such as https://hooks.example.com/reel.');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    throw new WebhookNotAllowedError('webhook_url_invalid', 'webhook_url must be an http(s) URL without user name or password.');
  }
  const allowed = parseAllowedHosts(allowedList);
  const hostname = url.hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  const literal = isIP(hostname) ? canonical(hostname) : undefined;
  const listed = literal ? allowed.addresses.has(literal) : allowed.names.has(hostname);
  if (!listed) {
    throw new WebhookNotAllowedError(
      'webhook_host_not_allowed',
      allowed.names.size + allowed.addresses.size === 0
        ? 'This deployment allows no webhook hosts (WEBHOOK_ALLOWED_HOSTS is empty).'
        : `The webhook host "${hostname}" is not in WEBHOOK_ALLOWED_HOSTS.`,
    );
  }
  let addresses: ResolvedAddress[];
  if (literal) addresses = [{ address: literal, family: isIP(literal) === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await resolve(hostname);
    } catch {
      addresses = [];
    }
    if (!addresses.length) throw new WebhookNotAllowedError('webhook_host_unresolved', `The webhook host "${hostname}" does not resolve to any address.`);
  }
  const privateOnes = addresses.filter((a) => !isPublicAddress(a.address));
  const unlisted = privateOnes.find((a) => !allowed.addresses.has(canonical(a.address)));
  if (unlisted) {
    throw new WebhookNotAllowedError(
      'webhook_address_not_allowed',
      `The webhook host "${hostname}" resolves to ${unlisted.address}, a loopback, private, link-local or metadata address that WEBHOOK_ALLOWED_HOSTS does not list.`,
    );
  }
  if (url.protocol === 'http:' && privateOnes.length < addresses.length) {
    throw new WebhookNotAllowedError('webhook_https_required', `The webhook host "${hostname}" is on the public internet: use https://.`);
  }
  return { url, hostname, address: { address: canonical(addresses[0].address), family: addresses[0].family } };
}
