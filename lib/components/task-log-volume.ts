import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { checkKnownProps } from '../core/known-props';
import { AirflowNames, AIRFLOW_GID } from '../core/names';
import { check, checkBytes, checkStorageClassName } from '../core/validation';

/** Properties of {@link TaskLogVolume}. */
export interface TaskLogVolumeProps {
  /** Prefix of the claim's name. @default 'airflow' */
  readonly instanceName?: string;
  /** Capacity, a Kubernetes byte quantity such as '1Gi' or '20Gi'. @default '5Gi' */
  readonly size?: string;
  /**
   * The StorageClass (a DNS-1123 subdomain); '' asks for no class at all. Required with `ReadWriteMany`: the
   * default classes of managed clusters (EBS, Persistent Disk, Azure Disk) offer only ReadWriteOnce, and a
   * claim they cannot serve stays Pending, with every pod that mounts it. @default the cluster's default StorageClass (ReadWriteOnce only)
   */
  readonly storageClassName?: string;
  /**
   * `ReadWriteMany` lets task pods on any node write beside the api-server (needs a class that offers it:
   * NFS, CephFS, EFS, Filestore, Azure Files); `ReadWriteOnce` binds every pod that mounts it to one node,
   * which only fits a single-node cluster such as kind. @default 'ReadWriteMany'
   */
  readonly accessMode?: 'ReadWriteMany' | 'ReadWriteOnce';
  /**
   * The `fsGroup` of every pod that mounts the volume, so that all of them may write to it. One group for
   * all: pods with different fsGroups would make the kubelet re-own the files at every start. It must be
   * git-sync's group (65533) where pods that mount it also run git-sync. @default 0, the Airflow image's group
   */
  readonly fsGroup?: number;
}

/**
 * A PersistentVolumeClaim `<instanceName>-logs` that task pods, the triggerer and the api-server mount at
 * `[logging] base_log_folder` (`/opt/airflow/logs`), so that a finished task's log, written by its pod,
 * is read by the api-server after the pod is gone (Airflow reads the local log folder before it asks the
 * task's host, which a deleted pod no longer is). Give it to {@link AirflowConfig} as `taskLogVolume`.
 * @see https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/logging-tasks.html
 */
export class TaskLogVolume extends Construct {
  public readonly claimName: string;
  public readonly fsGroup: number;
  /** The PersistentVolumeClaim (escape hatch). */
  public readonly claim: k8s.KubePersistentVolumeClaim;

  /** @throws AirflowValidationError for a bad instance name, size, storage class (or none with ReadWriteMany), access mode or fsGroup. */
  constructor(scope: Construct, id: string, props: TaskLogVolumeProps = {}) {
    super(scope, id);
    checkKnownProps(this, props);
    const names = AirflowNames.of(this, props.instanceName);
    const size = props.size ?? '5Gi';
    checkBytes(this, 'size', size);
    if (props.storageClassName !== undefined) checkStorageClassName(this, 'storageClassName', props.storageClassName);
    const accessMode = props.accessMode ?? 'ReadWriteMany';
    check(['ReadWriteMany', 'ReadWriteOnce'].includes(accessMode), this, 'accessMode', accessMode, '"ReadWriteMany" or "ReadWriteOnce"');
    check(accessMode !== 'ReadWriteMany' || props.storageClassName !== undefined, this, 'storageClassName', undefined,
      'a StorageClass that offers ReadWriteMany (e.g. "nfs-client", "efs-sc", "azurefile-csi", a Filestore or CephFS class): ' +
      'default classes are usually ReadWriteOnce only, and the claim would stay Pending; or accessMode "ReadWriteOnce" on a single-node cluster');
    this.fsGroup = props.fsGroup ?? AIRFLOW_GID;
    check(Number.isInteger(this.fsGroup) && this.fsGroup >= 0 && this.fsGroup <= 2147483647, this, 'fsGroup', this.fsGroup, 'a group id, a whole number from 0 to 2147483647');
    this.claimName = names.name('logs');
    this.claim = new k8s.KubePersistentVolumeClaim(this, 'Resource', {
      metadata: { name: this.claimName, labels: names.labels('logs') },
      spec: {
        accessModes: [accessMode],
        ...(props.storageClassName !== undefined ? { storageClassName: props.storageClassName } : {}),
        resources: { requests: { storage: k8s.Quantity.fromString(size) } },
      },
    });
  }

  /** The pod volume `logs` on this claim. */
  public volume(): k8s.Volume {
    return { name: 'logs', persistentVolumeClaim: { claimName: this.claimName } };
  }
}
