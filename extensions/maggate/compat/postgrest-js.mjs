// @supabase/postgrest-js against MagGate: the calls an app makes, with the
// answers PostgREST would give. Usage: node postgrest-js.mjs PORT|BASE_URL
import assert from 'node:assert/strict'
import { PostgrestClient } from '@supabase/postgrest-js'

// PORT (MagGate served natively) or a base URL (MagGate behind a host's
// gateway, `http://.../x/PROJECT/maggate`, with the key in MAGFLOCK_API_KEY).
const target = process.argv[2]
const base = target.startsWith('http') ? target : `http://127.0.0.1:${target}`
const headers = process.env.MAGFLOCK_API_KEY ? { apikey: process.env.MAGFLOCK_API_KEY } : {}
const db = new PostgrestClient(base, { headers })
let passed = 0
let failed = 0
async function check(name, query, expect) {
  const r = await query
  try {
    expect(r)
    passed++
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${JSON.stringify({ status: r.status, data: r.data, error: r.error })}\n  ${e.message.split('\n')[0]}`)
  }
}
const ok = (data, status = 200) => (r) => { assert.equal(r.error, null); assert.equal(r.status, status); assert.deepEqual(r.data, data) }
const err = (status, code) => (r) => { assert.equal(r.status, status); assert.equal(r.error?.code, code) }
const ids = (list) => list.map((id) => ({ id }))

await check('eq', db.from('todos').select('id,title').eq('id', 1), ok([{ id: 1, title: 'buy milk' }]))
await check('alias and in', db.from('todos').select('id, label:title').in('id', [1, 3]).order('id'),
  ok([{ id: 1, label: 'buy milk' }, { id: 3, label: 'write code' }]))
await check('neq gt lte', db.from('todos').select('id').neq('priority', 1).gt('priority', 0).lte('priority', 3).order('id'), ok(ids([3, 4])))
await check('ilike', db.from('todos').select('id').ilike('title', '%WALK%'), ok(ids([2])))
await check('like', db.from('todos').select('id').like('title', '%dog'), ok(ids([2])))
await check('is null', db.from('todos').select('id').is('priority', null).order('id'), ok(ids([2, 5])))
await check('not', db.from('todos').select('id').not('priority', 'is', null).order('id'), ok(ids([1, 3, 4])))
await check('or and', db.from('todos').select('id').or('id.eq.1,and(done.is.true,priority.gt.1)').order('id'), ok(ids([1, 4])))
await check('in with quotes', db.from('todos').select('id').in('title', ["it's; DROP", 'a,b', 'buy (milk)']), ok(ids([5])))
await check('order nulls', db.from('todos').select('id').order('priority', { ascending: false, nullsFirst: false }).order('id'),
  ok(ids([3, 4, 1, 2, 5])))
await check('range with count', db.from('todos').select('id', { count: 'exact' }).order('id').range(1, 2),
  (r) => { ok(ids([2, 3]), 206)(r); assert.equal(r.count, 5) })
await check('limit', db.from('todos').select('id').order('id').limit(2), ok(ids([1, 2])))
await check('head count', db.from('todos').select('*', { count: 'exact', head: true }), (r) => { assert.equal(r.count, 5) })
await check('single', db.from('todos').select('id,title').eq('id', 2).single(), ok({ id: 2, title: 'Walk dog' }))
await check('single of many', db.from('todos').select('id').single(), err(406, 'PGRST116'))
await check('maybeSingle of none', db.from('todos').select('id').eq('id', 99).maybeSingle(), ok(null))
await check('insert', db.from('todos').insert({ title: 'from js' }), ok(null, 201))
await check('bulk insert', db.from('todos').insert([{ title: 'a', priority: 7 }, { title: 'b' }]).select('title,priority,done'),
  ok([{ title: 'a', priority: 7, done: false }, { title: 'b', priority: null, done: false }], 201))
await check('insert single', db.from('todos').insert({ title: 'c' }).select('title,done').single(), ok({ title: 'c', done: false }, 201))
await check('update', db.from('todos').update({ done: true }).eq('id', 1).select('id,done'), ok([{ id: 1, done: true }]))
await check('update without filter', db.from('todos').update({ done: true }), err(400, '21000'))
await check('delete', db.from('todos').delete().eq('title', 'from js').select('title'), ok([{ title: 'from js' }]))
await check('delete without filter', db.from('todos').delete(), err(400, '21000'))
await check('match', db.from('todos').select('id').match({ done: false, priority: 3 }), ok(ids([3])))
await check('filter in', db.from('todos').select('id').filter('id', 'in', '(1,2)').order('id'), ok(ids([1, 2])))
await check('upsert merge', db.from('todos').upsert([{ id: 1, title: 'merged' }, { id: 20, title: 'new' }]).select('id,title'),
  ok([{ id: 1, title: 'merged' }, { id: 20, title: 'new' }], 201))
await check('upsert ignore', db.from('todos').upsert({ id: 2, title: 'nope' }, { ignoreDuplicates: true }).select('id'), ok([], 201))
await check('upsert on conflict', db.from('weird "name"').upsert({ id: 1, 'x,y': 'zz' }, { onConflict: 'id' }).select('id,"x,y"'),
  ok([{ id: 1, 'x,y': 'zz' }], 201))
await check('awkward names', db.from('weird "name"').select('"due date", ab:"a\\"b"').order('id'),
  ok([{ 'due date': '2024-01-01', ab: 7 }, { 'due date': null, ab: 8 }]))
await check('unknown column', db.from('todos').select('nope'), err(400, '42703'))
await check('unknown table', db.from('nope').select(), err(404, 'PGRST205'))
await check('embedding', db.from('todos').select('id, owner(name)'), err(400, 'PGRST127'))
await check('text search', db.from('todos').select('id').textSearch('title', 'milk'), err(400, 'PGRST127'))
await check('csv', db.from('todos').select('id').csv(), err(406, 'PGRST107'))

console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
