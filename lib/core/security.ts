import * as k8s from '../../imports/k8s';

/**
 * Security contexts that meet the Pod Security Standards "restricted" profile.
 * @see https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
 */

/** Pod level: non-root, RuntimeDefault seccomp, the given user and group; `fsGroup` makes volumes writable for the group. */
export function restrictedPodSecurity(runAsUser: number, runAsGroup: number, fsGroup?: number): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup,
    ...(fsGroup === undefined ? {} : { fsGroup, fsGroupChangePolicy: 'OnRootMismatch' }),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * Container level: no privilege escalation, every capability dropped, RuntimeDefault seccomp and
 * (unless the process must write outside its volumes) a read-only root filesystem.
 */
export function restrictedContainerSecurity(runAsUser: number, runAsGroup: number, readOnlyRootFilesystem = true): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
