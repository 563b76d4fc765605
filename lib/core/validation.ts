import { ApiObject, Chart } from 'cdk8s';
import { isIP } from 'net';
import { IConstruct } from 'constructs';

/**
 * Thrown for every invalid input, at construction time (before `cdk8s synth` writes any YAML).
 *
 * The message names the construct path, the property, the value received and what is expected:
 * `AirflowScheduler [dev/airflow/scheduler] replicas: got 0; expected a whole number >= 1.`
 */
export class AirflowValidationError extends Error {
  /** Construct path of the construct that rejected the input. */
  public readonly constructPath: string;
  /** The property (dotted for nested props, e.g. `resources.limits.memory`). */
  public readonly property: string;
  /** The value received, with URL passwords in its strings redacted (errors get logged). */
  public readonly value: unknown;

  constructor(scope: IConstruct, property: string, value: unknown, expected: Expected) {
    super(`${scope.constructor.name} [${scope.node.path || '<root>'}] ${property}: got ${show(value)}; expected ${typeof expected === 'function' ? expected() : expected}.`);
    this.name = 'AirflowValidationError';
    this.constructPath = scope.node.path;
    this.property = property;
    this.value = redactDeep(value);
  }
}

/**
 * `scheme://user:password@`: the password of a URL, wherever it sits in a string, up to the last '@' before the
 * next space (a pasted password may hold an unescaped '@' or '/'); not `host:port/path@...`, a port and a path.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:)(?!\d+\/)[^\s]*@/gi;
/** `user:password@host:path`, Git's scp-like address with a password pasted in. */
const SCP_PASSWORD = /(^|\s)([^\s/@:]+:)[^\s/@]+@(?=[^\s/@:]+:)/g;

/** The string with every URL password replaced by `<redacted>`. */
export function redactUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, '$1<redacted>@').replace(SCP_PASSWORD, '$1$2<redacted>@');
}

/** `value` with every string in it passed through redactUrlPasswords; plain objects and arrays are copied, nothing else. */
function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return redactUrlPasswords(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]));
  }
  return value;
}

/**
 * The value as received: JSON where JSON says what it is, else its own spelling (NaN, Infinity, 1n, a
 * function); URL passwords in it are redacted, whatever the property is called.
 */
function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return redactUrlPasswords(JSON.stringify(value, (_k, v) => typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return redactUrlPasswords(String(value));
  }
}

/** Whether `text` holds a URL with a password (`scheme://user:password@`) or an scp-like `user:password@host:`. */
export function hasUrlPassword(text: string): boolean {
  return redactUrlPasswords(text) !== text;
}

/**
 * Refuses a string that carries a URL with a password (`postgresql://user:secret@host`): a credential as a
 * literal would reach dist/ and every pod spec reader. The message shows the value redacted.
 */
export function checkNoUrlPassword(scope: IConstruct, property: string, value: unknown): void {
  check(typeof value !== 'string' || !hasUrlPassword(value), scope, property, value,
    'no password in a URL: a credential must come from a Secret (a SecretKeyRef, or an env var with valueFrom.secretKeyRef)');
}

/**
 * What a property expects, as a clause after "expected". A function when the clause costs work to
 * build (suggestions, lists): it is called only when the check fails, so the success path stays cheap.
 */
export type Expected = string | (() => string);

/** Throws an AirflowValidationError unless `ok`. */
export function check(ok: boolean, scope: IConstruct, property: string, value: unknown, expected: Expected): void {
  if (!ok) throw new AirflowValidationError(scope, property, value, expected);
}

/** A whole number >= `min` (replicas, counts). */
export function checkWholeNumber(scope: IConstruct, property: string, value: number, min: number): number {
  check(Number.isInteger(value) && value >= min, scope, property, value, `a whole number >= ${min}`);
  return value;
}

// Kubernetes resource.Quantity grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go):
// <signedNumber><suffix> (a leading '+' allowed), suffix one of the binary SI (Ki..Ei), decimal SI (n u m "" k M G T P E)
// or a decimal exponent (e3, E-2). Negative values parse but no request, limit or size may be negative.
const QUANTITY = /^\+?(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const MULTIPLIER: Record<string, number> = {
  '': 1, 'n': 1e-9, 'u': 1e-6, 'm': 1e-3, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
  'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60,
};

/**
 * Parses a non-negative Kubernetes quantity ("500m", "1.5", "512Mi", "1e3") to a number of base units
 * (cores or bytes); undefined when the string is not one.
 * @see https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
 */
export function parseQuantity(value: string): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const factor = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : MULTIPLIER[suffix];
  return Number(m[1]) * factor;
}

/**
 * A host name an Ingress rule or HTTPRoute answers: a DNS-1123 subdomain, with a leading `*.` for a wildcard, and not
 * an IP address (Kubernetes refuses one in Ingress hosts; the Gateway API does not allow them in hostnames).
 */
export function checkHostName(scope: IConstruct, property: string, host: string): string {
  check(typeof host === 'string' && !/^[0-9.]+$/.test(host), scope, property, host, 'a DNS name, not an IP address');
  checkDnsSubdomain(scope, property, host.replace(/^\*\./, ''));
  return host;
}

/** Checks a CPU quantity (cores "1.5" or millicores "500m") that is more than zero; returns its value in cores. */
export function checkCpu(scope: IConstruct, property: string, value: string): number {
  const cores = parseQuantity(value);
  // "1Gi" parses as a quantity, but a binary (byte) suffix on CPU is always a memory value in the wrong field
  check(cores !== undefined && cores > 0 && !/[KMGTPE]i$/.test(value), scope, property, value,
    'a positive Kubernetes CPU quantity in cores or millicores, e.g. "250m" or "1.5" (no byte suffix such as Mi or Gi)');
  return cores!;
}

/** Checks a byte quantity (memory, storage) that is more than zero; returns its value in bytes. */
export function checkBytes(scope: IConstruct, property: string, value: string): number {
  const bytes = parseQuantity(value);
  // "1500m" is 1.5 bytes: Kubernetes takes it, but it is always a typo for megabytes
  check(bytes !== undefined && bytes >= 1 && !/[mun]$/.test(value), scope, property, value,
    'a positive Kubernetes byte quantity with a binary suffix, e.g. "512Mi" or "2Gi" (not "2GB")');
  return bytes!;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label (Namespace, Service and most object names): lower-case alphanumerics and '-', at most `max` characters. */
export function checkDnsLabel(scope: IConstruct, property: string, value: string, max = 63): string {
  check(typeof value === 'string' && value.length <= max && DNS1123_LABEL.test(value), scope, property, value,
    `a DNS-1123 label of at most ${max} characters: lower-case letters, digits and '-', starting and ending with a letter or digit`);
  return value;
}

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A DNS-1035 label: a DNS-1123 label that starts with a letter, the rule for Service names (and so for any
 * name a Service name is built from).
 */
export function checkDns1035Label(scope: IConstruct, property: string, value: string, max = 63, why?: string): string {
  check(typeof value === 'string' && value.length <= max && DNS1035_LABEL.test(value), scope, property, value,
    `a DNS-1035 label of at most ${max} characters${why ? ` (${why})` : ''}: lower-case letters, digits and '-', ` +
    'starting with a letter and ending with a letter or digit (Service names follow this rule)');
  return value;
}

/**
 * A namespace a construct places or names objects in (`[kubernetes_executor] namespace`, a RoleBinding's subjects):
 * a DNS-1123 label, and its Chart's namespace when the Chart has one, since that is where the objects go.
 */
export function checkNamespace(scope: IConstruct, property: string, value: string): string {
  checkDnsLabel(scope, property, value);
  const chart = Chart.of(scope);
  check(chart.namespace === undefined || value === chart.namespace, scope, property, value,
    `the namespace of its Chart [${chart.node.path}] (${chart.namespace}), where its objects go: unset, or "${chart.namespace}"`);
  return value;
}

/**
 * A PersistentVolumeClaim's `storageClassName`: a StorageClass name (a DNS-1123 subdomain), or "" for no class
 * (the claim binds only to PersistentVolumes without one, e.g. ones made by hand).
 * @see https://kubernetes.io/docs/concepts/storage/persistent-volumes/#class-1
 */
export function checkStorageClassName(scope: IConstruct, property: string, value: string): string {
  return value === '' ? value : checkDnsSubdomain(scope, property, value);
}

/** A DNS-1123 subdomain (Secret and ConfigMap names). */
export function checkDnsSubdomain(scope: IConstruct, property: string, value: string): string {
  check(typeof value === 'string' && value.length <= 253 && value.split('.').every(l => DNS1123_LABEL.test(l)),
    scope, property, value, 'a DNS-1123 subdomain: lower-case letters, digits, \'-\' and \'.\', at most 253 characters');
  return value;
}

// Docker reference grammar (distribution/reference): [registry[:port]/]path[:tag][@digest], the digest of an algorithm
// go-digest registers (sha256, sha384, sha512) with its length of hex.
const IMAGE = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128}))?$/;

/** Whether `image` is a valid reference pinned by a tag other than `latest`, or by a digest. */
export function isPinnedImage(image: unknown): boolean {
  const m = typeof image === 'string' ? IMAGE.exec(image) : null;
  return m !== null && ((m[1] !== undefined && m[1] !== 'latest') || m[2] !== undefined);
}

/** An image reference pinned by a tag other than `latest`, or by a digest. */
export function checkImage(scope: IConstruct, property: string, value: string): string {
  check(isPinnedImage(value), scope, property, value,
    'an image reference pinned to a version tag or digest, e.g. "apache/airflow:3.3.2" (no missing tag, no "latest")');
  return value;
}

const DURATION_UNITS: Record<string, number> = { 'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'μs': 1e-6, 'ms': 1e-3, 's': 1, 'm': 60, 'h': 3600 };

/**
 * Parses a Go duration, as git-sync's flags take it (Go's time.ParseDuration): an optional sign, then
 * decimal numbers each with a unit (ns, us or µs, ms, s, m, h): "60s", "1m30s", "1.5h", "500ms", or "0".
 * Returns seconds; undefined if the text is not one, or longer than Go's int64 of nanoseconds holds.
 */
export function parseDuration(value: string): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^([-+]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(value);
  if (!m) return undefined;
  let seconds = 0;
  for (const [, n, u] of m[2].matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) seconds += Number(n) * DURATION_UNITS[u];
  // Go keeps a duration in an int64 of nanoseconds: more than 2562047h47m16.854775807s is "invalid duration"
  if (seconds > 9223372036.854775807) return undefined;
  return m[1] === '-' ? -seconds : seconds;
}

/** What a SecretKeyRef's place expects, in every message about a value given instead of one. */
export const SECRET_REF_EXPECTED = "a Secret reference, SecretKeyRef.of('<secret-name>', '<key>'), so that no secret value is in code or dist/";

/**
 * A key of a Secret or ConfigMap (apimachinery's IsConfigMapKey): letters, digits, '-', '_' and '.', at most 253
 * characters, and not '.', '..' or beginning with '..' (a key becomes a file name in a mounted volume).
 */
export function checkSecretKey(scope: IConstruct, property: string, value: string): string {
  check(typeof value === 'string' && /^[-._a-zA-Z0-9]{1,253}$/.test(value) && value !== '.' && !value.startsWith('..'), scope, property, value,
    "a Secret key: letters, digits, '-', '_' or '.', at most 253 characters, not \".\" and not beginning with \"..\"");
  return value;
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** A label key (a qualified name: an optional DNS subdomain prefix and '/', then a name of at most 63 characters). */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  return LABEL_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && prefix.split('.').every(l => DNS1123_LABEL.test(l))));
}

/**
 * Labels (or a nodeSelector) by Kubernetes' rules: each key a qualified name (an optional DNS subdomain prefix and
 * "/", then at most 63 letters, digits, "-", "_" or "."), each value at most 63 such characters or empty.
 * @throws AirflowValidationError at `property` (the key) or `property.<key>` (the value)
 */
export function checkLabels(scope: IConstruct, property: string, labels: Record<string, string>): Record<string, string> {
  check(typeof labels === 'object' && labels !== null && !Array.isArray(labels), scope, property, labels, 'an object of label keys to values');
  for (const [key, value] of Object.entries(labels)) {
    check(isLabelKey(key), scope, property, key, 'label keys of an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" or "." starting and ending with a letter or digit');
    check(typeof value === 'string' && LABEL_VALUE.test(value), scope, `${property}.${key}`, value,
      'a label value: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (or empty)');
  }
  return labels;
}

/** Annotation keys by Kubernetes' rules (qualified names, as label keys); values are any strings. */
export function checkAnnotations(scope: IConstruct, property: string, annotations: Record<string, string>): Record<string, string> {
  check(typeof annotations === 'object' && annotations !== null && !Array.isArray(annotations), scope, property, annotations, 'an object of annotation keys to string values');
  for (const [key, value] of Object.entries(annotations)) {
    check(isLabelKey(key), scope, property, key, 'annotation keys of an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" or "."');
    check(typeof value === 'string', scope, `${property}.${key}`, value, 'a string');
  }
  return annotations;
}

/**
 * A label selector by Kubernetes' rules (ValidateLabelSelector): label keys and values in `matchLabels`, and
 * `matchExpressions` with In/NotIn (values given) or Exists/DoesNotExist (no values).
 */
export function checkLabelSelector(scope: IConstruct, property: string, selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] }): void {
  checkLabels(scope, `${property}.matchLabels`, selector.matchLabels ?? {});
  (selector.matchExpressions ?? []).forEach((e, i) => {
    const at = `${property}.matchExpressions[${i}]`;
    check(isLabelKey(e.key), scope, `${at}.key`, e.key, 'a label key');
    check(['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator), scope, `${at}.operator`, e.operator, '"In", "NotIn", "Exists" or "DoesNotExist"');
    const hasValues = (e.values ?? []).length > 0;
    check(hasValues === ['In', 'NotIn'].includes(e.operator), scope, `${at}.values`, e.values,
      'values for In and NotIn, none for Exists and DoesNotExist');
    (e.values ?? []).forEach(v => check(LABEL_VALUE.test(v), scope, `${at}.values`, v, 'label values'));
  });
}

/** An IP address with a prefix length, IPv4 (`10.0.0.0/8`, prefix 0 to 32) or IPv6 (prefix 0 to 128). */
export function checkCidr(scope: IConstruct, property: string, value: string): string {
  const m = typeof value === 'string' ? /^(.+)\/(\d{1,3})$/.exec(value) : null;
  const version = m ? isIP(m[1]) : 0;
  check(m !== null && version !== 0 && Number(m[2]) <= (version === 4 ? 32 : 128), scope, property, value,
    'a CIDR such as "10.0.0.0/8" or "fd00::/8" (an IP address and a prefix length up to 32 for IPv4, 128 for IPv6)');
  return value;
}

/**
 * A NetworkPolicy peer by Kubernetes' rules (ValidateNetworkPolicyPeer): one of podSelector and namespaceSelector
 * (or both), or an ipBlock alone; valid selectors; a valid CIDR whose exceptions are CIDRs too.
 */
export function checkNetworkPolicyPeer(scope: IConstruct, property: string, peer: { podSelector?: any; namespaceSelector?: any; ipBlock?: { cidr: string; except?: string[] } }): void {
  const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  check(selectors !== (peer.ipBlock !== undefined), scope, property, peer,
    'a podSelector and/or a namespaceSelector, or an ipBlock alone (Kubernetes refuses an empty peer and an ipBlock beside selectors)');
  if (peer.podSelector !== undefined) checkLabelSelector(scope, `${property}.podSelector`, peer.podSelector);
  if (peer.namespaceSelector !== undefined) checkLabelSelector(scope, `${property}.namespaceSelector`, peer.namespaceSelector);
  if (peer.ipBlock !== undefined) {
    checkCidr(scope, `${property}.ipBlock.cidr`, peer.ipBlock.cidr);
    (peer.ipBlock.except ?? []).forEach((c, i) => checkCidr(scope, `${property}.ipBlock.except[${i}]`, c));
  }
}

/** Rejects a list with a repeated name; returns the list. */
export function checkUniqueNames<T extends { name: string }>(scope: IConstruct, property: string, items: T[]): T[] {
  const seen = new Set<string>();
  for (const item of items) {
    check(!seen.has(item.name), scope, property, item.name, 'each name at most once (it is given twice)');
    seen.add(item.name);
  }
  return items;
}

const DNS1123_SUBDOMAIN = (name: string) => name.length <= 253 && name.split('.').every(l => DNS1123_LABEL.test(l));
const label = (max: number) => (name: string) => name.length <= max && DNS1123_LABEL.test(name);

/**
 * Kubernetes' rule for the names of the kinds this library writes: the name function each kind's validation passes
 * to ValidateObjectMeta (k8s.io/kubernetes pkg/apis/{core,apps,batch,rbac}/validation), plus the room a controller
 * needs for what it derives from the name (CronJob: Jobs named `<name>-<11 characters>`, apps/batch validation;
 * StatefulSet: the `controller-revision-hash` label `<name>-<10 characters>` of its pods, at most 63).
 */
const NAME_RULES: Record<string, { readonly ok: (name: string) => boolean; readonly rule: string }> = {
  'Namespace': { ok: label(63), rule: 'a DNS-1123 label of at most 63 characters' },
  'Service': { ok: name => name.length <= 63 && DNS1035_LABEL.test(name), rule: 'a DNS-1035 label of at most 63 characters (starting with a letter)' },
  'StatefulSet': { ok: label(52), rule: 'a DNS-1123 label of at most 52 characters' },
  'CronJob': { ok: name => name.length <= 52 && DNS1123_SUBDOMAIN(name), rule: 'a DNS-1123 subdomain of at most 52 characters' },
  'Job': { ok: label(63), rule: 'a DNS-1123 label of at most 63 characters (its pods carry it as the job-name label)' },
  'Role': { ok: name => name !== '.' && name !== '..' && name !== '' && !/[/%]/.test(name), rule: 'a path segment (no "/" or "%", not "." or "..")' },
  'RoleBinding': { ok: name => name !== '.' && name !== '..' && name !== '' && !/[/%]/.test(name), rule: 'a path segment (no "/" or "%", not "." or "..")' },
  ...Object.fromEntries(['ConfigMap', 'Secret', 'ServiceAccount', 'PersistentVolumeClaim', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget']
    .map(kind => [kind, { ok: DNS1123_SUBDOMAIN, rule: 'a DNS-1123 subdomain of at most 253 characters' }])),
};

const CHECKED_APPS = new WeakSet<IConstruct>();

/**
 * Adds, once per App, the checks that see every object of every Chart at synth (before any YAML is written):
 * each object's name follows its kind's rule, and no two objects are the same object (group, kind, namespace and
 * name), as when an environment is copied and keeps its namespace. Cost: one pass over the App's objects.
 */
export function checkAppObjectsAtSynth(scope: IConstruct): void {
  const root = scope.node.root;
  if (CHECKED_APPS.has(root)) return;
  CHECKED_APPS.add(root);
  root.node.addValidation({ validate: () => appObjectErrors(root) });
}

/** Something a cluster has once, claimed by a construct: see claimOncePerCluster. */
interface Claim { readonly scope: IConstruct; readonly property: string; readonly value: string; readonly what: string; readonly why: string }
const CLAIMS = new WeakMap<IConstruct, Claim[]>();

/**
 * Claims, for the App, something the cluster can give only one installation: a NodePort, an Ingress host and
 * path of one class, a Gateway's host and path, a metadata database. Two claims of the same `what` and `value`
 * in one App fail synth, naming both constructs: applying both charts to one cluster would fail (the API server
 * refuses a NodePort twice), or worse, succeed (two Ingresses for one host; two Airflows on one database run
 * each other's DAG runs and migrations).
 * @param what what is claimed, e.g. 'NodePort'; `value` its value, e.g. '30007'; `why` the harm of sharing it.
 */
export function claimOncePerCluster(scope: IConstruct, property: string, what: string, value: string, why: string): void {
  checkAppObjectsAtSynth(scope);
  const root = scope.node.root;
  if (!CLAIMS.has(root)) CLAIMS.set(root, []);
  CLAIMS.get(root)!.push({ scope, property, value, what, why });
}

function claimErrors(root: IConstruct): string[] {
  const first = new Map<string, Claim>();
  const errors: string[] = [];
  for (const c of CLAIMS.get(root) ?? []) {
    const key = `${c.what}\0${c.value}`;
    const earlier = first.get(key);
    if (earlier === undefined) { first.set(key, c); continue; }
    errors.push(new AirflowValidationError(c.scope, c.property, c.value,
      `a ${c.what} that no other installation of the App has: ${earlier.scope.constructor.name} [${earlier.scope.node.path}] ${earlier.property} has ${c.value} (${c.why})`).message);
  }
  return errors;
}

function appObjectErrors(root: IConstruct): string[] {
  const errors: string[] = claimErrors(root);
  const seen = new Map<string, ApiObject>();
  for (const o of root.node.findAll()) {
    if (!(o instanceof ApiObject)) continue;
    const where = (x: ApiObject) => `${Chart.of(x).constructor.name} [${Chart.of(x).node.path}]`;
    const rule = NAME_RULES[o.kind];
    if (rule !== undefined && !rule.ok(o.name)) {
      errors.push(`${where(o)} ${o.kind} name: got ${show(o.name)} (object ${o.node.path}); expected ${rule.rule}, as Kubernetes requires of a ${o.kind}'s name.`);
    }
    const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '';
    const namespace = o.kind === 'Namespace' ? '' : o.metadata.namespace ?? '';
    const key = `${group}/${o.kind}/${namespace}/${o.name}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, o);
    } else {
      errors.push(`${where(o)} ${o.kind} ${namespace ? `${namespace}/` : ''}${o.name}: got it twice, from ${o.node.path} and ${first.node.path}; ` +
        'expected each object once per App (applying both, the last one wins): give the copied Chart its own namespace, or the installation its own instanceName.');
    }
  }
  return errors;
}
