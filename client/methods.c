/*
 * client/methods.c - the etcd v3 methods libcairn calls, with their retry
 * class, and the typed wrappers declared in cairn.h.
 *
 * retry: clientv3 marks these calls "repeatable" and retries them on
 * Unavailable (etcd v3.4.23 clientv3/retry.go, kv.go, lease.go,
 * cluster.go, maintenance.go): Range, LeaseGrant/Revoke/TimeToLive/Leases,
 * LeaseKeepAlive, MemberList, Alarm, Status, Hash, HashKV, Snapshot,
 * MoveLeader, Authenticate. Everything else is retried only when it was
 * never sent. write: changes state, so an unanswered attempt leaves the
 * outcome unknown (struct cairn_status.indeterminate).
 */
#include "client/internal.h"

#define METHOD(var, svc, name, Req, Resp, retry_, write_) \
	const struct cairn__method var = {                \
	    .path = "/etcdserverpb." svc "/" name,        \
	    .req = &etcdserverpb__##Req##__descriptor,    \
	    .resp = &etcdserverpb__##Resp##__descriptor,  \
	    .retry = retry_,                              \
	    .write = write_,                              \
	}

METHOD(cairn__m_range, "KV", "Range", range_request, range_response, true, false);
METHOD(cairn__m_put, "KV", "Put", put_request, put_response, false, true);
METHOD(cairn__m_delete, "KV", "DeleteRange", delete_range_request, delete_range_response, false,
       true);
METHOD(cairn__m_txn, "KV", "Txn", txn_request, txn_response, false, true);
METHOD(cairn__m_compact, "KV", "Compact", compaction_request, compaction_response, false, true);
METHOD(cairn__m_watch, "Watch", "Watch", watch_request, watch_response, true, false);
METHOD(cairn__m_lease_grant, "Lease", "LeaseGrant", lease_grant_request, lease_grant_response, true,
       true);
METHOD(cairn__m_lease_revoke, "Lease", "LeaseRevoke", lease_revoke_request, lease_revoke_response,
       true, true);
METHOD(cairn__m_lease_keepalive, "Lease", "LeaseKeepAlive", lease_keep_alive_request,
       lease_keep_alive_response, true, false);
METHOD(cairn__m_lease_ttl, "Lease", "LeaseTimeToLive", lease_time_to_live_request,
       lease_time_to_live_response, true, false);
METHOD(cairn__m_lease_list, "Lease", "LeaseLeases", lease_leases_request, lease_leases_response,
       true, false);
METHOD(cairn__m_member_list, "Cluster", "MemberList", member_list_request, member_list_response,
       true, false);
METHOD(cairn__m_member_add, "Cluster", "MemberAdd", member_add_request, member_add_response, false,
       true);
METHOD(cairn__m_member_remove, "Cluster", "MemberRemove", member_remove_request,
       member_remove_response, false, true);
METHOD(cairn__m_member_update, "Cluster", "MemberUpdate", member_update_request,
       member_update_response, false, true);
METHOD(cairn__m_member_promote, "Cluster", "MemberPromote", member_promote_request,
       member_promote_response, false, true);
METHOD(cairn__m_status, "Maintenance", "Status", status_request, status_response, true, false);
METHOD(cairn__m_alarm, "Maintenance", "Alarm", alarm_request, alarm_response, true, true);
METHOD(cairn__m_defragment, "Maintenance", "Defragment", defragment_request, defragment_response,
       false, false);
METHOD(cairn__m_hash, "Maintenance", "Hash", hash_request, hash_response, true, false);
METHOD(cairn__m_hash_kv, "Maintenance", "HashKV", hash_kvrequest, hash_kvresponse, true, false);
METHOD(cairn__m_move_leader, "Maintenance", "MoveLeader", move_leader_request, move_leader_response,
       true, true);
METHOD(cairn__m_snapshot, "Maintenance", "Snapshot", snapshot_request, snapshot_response, true,
       false);
METHOD(cairn__m_authenticate, "Auth", "Authenticate", authenticate_request, authenticate_response,
       true, false);

#define WRAP(name, m, Req, Resp)                                                                  \
	int cairn_##name(struct cairn_client *c, const Req *req, const struct cairn_call_opts *o, \
	                 cairn_done_fn done, void *arg)                                           \
	{                                                                                         \
		return cairn__call(c, &m, (const ProtobufCMessage *)req, o, done, arg);           \
	}                                                                                         \
	int cairn_##name##_sync(struct cairn_client *c, const Req *req,                           \
	                        const struct cairn_call_opts *o, Resp **resp,                     \
	                        struct cairn_status *st)                                          \
	{                                                                                         \
		return cairn__call_sync(c, &m, (const ProtobufCMessage *)req, o, (void **)resp,   \
		                        st);                                                      \
	}

WRAP(kv_range, cairn__m_range, Etcdserverpb__RangeRequest, Etcdserverpb__RangeResponse)
WRAP(kv_put, cairn__m_put, Etcdserverpb__PutRequest, Etcdserverpb__PutResponse)
WRAP(kv_delete, cairn__m_delete, Etcdserverpb__DeleteRangeRequest,
     Etcdserverpb__DeleteRangeResponse)
WRAP(kv_txn, cairn__m_txn, Etcdserverpb__TxnRequest, Etcdserverpb__TxnResponse)
WRAP(kv_compact, cairn__m_compact, Etcdserverpb__CompactionRequest,
     Etcdserverpb__CompactionResponse)
WRAP(lease_grant, cairn__m_lease_grant, Etcdserverpb__LeaseGrantRequest,
     Etcdserverpb__LeaseGrantResponse)
WRAP(lease_revoke, cairn__m_lease_revoke, Etcdserverpb__LeaseRevokeRequest,
     Etcdserverpb__LeaseRevokeResponse)
WRAP(lease_ttl, cairn__m_lease_ttl, Etcdserverpb__LeaseTimeToLiveRequest,
     Etcdserverpb__LeaseTimeToLiveResponse)
WRAP(lease_list, cairn__m_lease_list, Etcdserverpb__LeaseLeasesRequest,
     Etcdserverpb__LeaseLeasesResponse)
WRAP(member_list, cairn__m_member_list, Etcdserverpb__MemberListRequest,
     Etcdserverpb__MemberListResponse)
WRAP(member_add, cairn__m_member_add, Etcdserverpb__MemberAddRequest,
     Etcdserverpb__MemberAddResponse)
WRAP(member_remove, cairn__m_member_remove, Etcdserverpb__MemberRemoveRequest,
     Etcdserverpb__MemberRemoveResponse)
WRAP(member_update, cairn__m_member_update, Etcdserverpb__MemberUpdateRequest,
     Etcdserverpb__MemberUpdateResponse)
WRAP(member_promote, cairn__m_member_promote, Etcdserverpb__MemberPromoteRequest,
     Etcdserverpb__MemberPromoteResponse)
WRAP(maint_status, cairn__m_status, Etcdserverpb__StatusRequest, Etcdserverpb__StatusResponse)
WRAP(maint_alarm, cairn__m_alarm, Etcdserverpb__AlarmRequest, Etcdserverpb__AlarmResponse)
WRAP(maint_defragment, cairn__m_defragment, Etcdserverpb__DefragmentRequest,
     Etcdserverpb__DefragmentResponse)
WRAP(maint_hash, cairn__m_hash, Etcdserverpb__HashRequest, Etcdserverpb__HashResponse)
WRAP(maint_hash_kv, cairn__m_hash_kv, Etcdserverpb__HashKVRequest, Etcdserverpb__HashKVResponse)
WRAP(maint_move_leader, cairn__m_move_leader, Etcdserverpb__MoveLeaderRequest,
     Etcdserverpb__MoveLeaderResponse)
WRAP(auth_authenticate, cairn__m_authenticate, Etcdserverpb__AuthenticateRequest,
     Etcdserverpb__AuthenticateResponse)
