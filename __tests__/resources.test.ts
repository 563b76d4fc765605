import { Construct } from 'constructs';
import {
  AirflowConfig, AirflowValidationError, ContainerResources, ContainerResourcesProps, GitSync, renderResources, TaskPodTemplate,
} from '../lib';
import { synth, taskPod, testChart } from './helpers';

const scope = () => new Construct(testChart(), 'c');
const ok: ContainerResources = { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi', cpu: '1' } };
const render = (r: ContainerResourcesProps, defaults = ok) => renderResources(scope(), 'resources', r, defaults);
/** k8s.Quantity objects as their strings. */
const plain = (q: object | undefined) => Object.fromEntries(Object.entries(q ?? {}).map(([k, v]) => [k, v.value]));
const with_ = (requests: Partial<ContainerResources['requests']>, limits: Partial<ContainerResources['limits']>): ContainerResources =>
  ({ requests: { ...ok.requests, ...requests }, limits: { ...ok.limits, ...limits } });

test('renders requests and limits as given', () => {
  const r = render(ok);
  expect(plain(r.requests)).toEqual({ cpu: '250m', memory: '512Mi' });
  expect(plain(r.limits)).toEqual({ memory: '1Gi', cpu: '1' });
});

test('a CPU limit is optional; a memory limit is always set', () => {
  const noCpuLimit = { requests: ok.requests, limits: { memory: '1Gi' } };
  expect(plain(render({ limits: { memory: '512Mi' } }, noCpuLimit).limits)).toEqual({ memory: '512Mi' });
});

test('limits equal to requests are fine, in different units', () => {
  expect(() => render(with_({ cpu: '1', memory: '1Gi' }, { cpu: '1000m', memory: '1024Mi' }))).not.toThrow();
});

test('a memory limit below the request is rejected, both shown in one unit', () => {
  expect(() => render(with_({ memory: '1Gi' }, { memory: '1000Mi' }))).toThrow(
    'resources.limits.memory: got "1000Mi"; expected a memory limit at least the request: the limit 1000Mi is 1000 MiB, less than the request 1Gi, 1024 MiB.');
  expect(() => render(with_({ memory: '1G' }, { memory: '900Mi' }))).toThrow('the limit 900Mi is 900 MiB, less than the request 1G, 953.674 MiB.');
});

test('a limit left at its default that the new request passes says so', () => {
  expect(() => render({ requests: { memory: '2Gi' } })).toThrow(
    'resources.limits.memory: got "1Gi"; expected a memory limit at least the request: the limit 1Gi is 1024 MiB, less than the request 2Gi, ' +
    '2048 MiB; 1Gi is the default limit: set resources.limits.memory as well.');
});

describe('a field left out keeps its default (issue: one request changed, the rest kept)', () => {
  test('in renderResources', () => {
    const r = render({ requests: { cpu: '2' } }, { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
    expect(plain(r.requests)).toEqual({ cpu: '2', memory: '512Mi' });
    expect(plain(r.limits)).toEqual({ memory: '1Gi' });
    expect(plain(render({ limits: { cpu: undefined, memory: '2Gi' } }).limits)).toEqual({ memory: '2Gi', cpu: '1' });
  });

  test('in a construct: the task pod template with one request changed', () => {
    const chart = testChart();
    new TaskPodTemplate(chart, 'tasks', { config: new AirflowConfig(chart, 'config'), resources: { requests: { cpu: '2' } } });
    expect(taskPod(synth(chart)).spec.containers[0].resources).toEqual({
      requests: { 'cpu': '2', 'memory': '512Mi', 'ephemeral-storage': '1Gi' }, limits: { 'memory': '1Gi', 'ephemeral-storage': '4Gi' },
    });
  });
});

test('a CPU limit below the request is rejected', () => {
  expect(() => render(with_({ cpu: '1' }, { cpu: '999m' }))).toThrow(/resources\.limits\.cpu: got "999m"/);
});

describe.each(['2GB', '-1', '1.5.0'])('%j', bad => {
  test.each([
    ['requests.cpu', with_({ cpu: bad }, {})],
    ['requests.memory', with_({ memory: bad }, {})],
    ['limits.memory', with_({}, { memory: bad })],
    ['limits.cpu', with_({}, { cpu: bad })],
  ])('is rejected as %s, naming the property', (path, r) => {
    expect(() => render(r)).toThrow(AirflowValidationError);
    expect(() => render(r)).toThrow(`resources.${path}: got ${JSON.stringify(bad)}`);
  });
});

test('zero CPU or memory is rejected', () => {
  expect(() => render(with_({ cpu: '0' }, {}))).toThrow(/resources\.requests\.cpu/);
  expect(() => render(with_({ memory: '0' }, {}))).toThrow(/resources\.requests\.memory/);
});

test('resources that are not an object are rejected', () => {
  expect(() => render('1Gi' as any)).toThrow(/resources: got "1Gi"; expected an object/);
});

test('constructs report the path of their own resources prop', () => {
  expect(() => new GitSync(testChart(), 'g', { repository: 'https://github.com/x/y.git', resources: with_({ memory: '2GB' }, {}) }))
    .toThrow('GitSync [test/g] resources.requests.memory: got "2GB"');
});

test('ephemeral-storage is rendered under the name Kubernetes uses, and its limit may not be below its request', () => {
  const r = render(with_({ ephemeralStorage: '1Gi' }, { ephemeralStorage: '4Gi' }));
  expect(plain(r.requests)).toEqual({ cpu: '250m', memory: '512Mi', 'ephemeral-storage': '1Gi' });
  expect(plain(r.limits)).toEqual({ memory: '1Gi', cpu: '1', 'ephemeral-storage': '4Gi' });
  expect(() => render(with_({ ephemeralStorage: '2Gi' }, { ephemeralStorage: '1Gi' }))).toThrow(/resources\.limits\.ephemeralStorage.*at least the request: the limit 1Gi is 1024 MiB, less than the request 2Gi, 2048 MiB\./);
  expect(() => render(with_({ ephemeralStorage: '2GB' }, {}))).toThrow(/resources\.requests\.ephemeralStorage/);
});
