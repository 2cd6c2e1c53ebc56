// KafkaJS scenarios for tests/kafka/test_kafkajs.py: `node scenarios.js SCENARIO BOOTSTRAP [ARG...]`.
// Each prints one JSON line with what it observed and exits 0, or prints the error and exits 1;
// the Python side asserts on the JSON.
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const [scenario, bootstrap, ...args] = process.argv.slice(2)
const TIMEOUT = 60000

function client (extra = {}) {
  return new Kafka({ clientId: 'kafkajs-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 8 }, ...extra })
}

function sasl (token) {
  return { sasl: { mechanism: 'plain', username: 'app', password: token } }
}

async function consumeN (kafka, topic, n, groupId) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of ${n}`)), TIMEOUT)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value.toString(), headers: Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, v.toString()])) })
        if (got.length === n) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  return got
}

const scenarios = {
  async roundtrip () {
    const [topic, codec] = args
    const kafka = client()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    await admin.disconnect()
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `v${i}-`.repeat(10), headers: { h: 'js' }, partition: i % 2 }))
    await producer.send({ topic, compression: CompressionTypes[codec], messages, acks: -1 })
    await producer.disconnect()
    const got = await consumeN(kafka, topic, 100, `g-${topic}`)
    return { got }
  },

  async group () {
    // Two members of one group share a 4-partition topic; their committed offsets reach the end.
    const [topic] = args
    const kafka = client()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await producer.send({ topic, messages: Array.from({ length: 200 }, (_, i) => ({ value: `m${i}`, partition: i % 4 })) })
    await producer.disconnect()
    const groupId = `g-${topic}`
    const seen = new Map()
    const members = [0, 1].map(() => kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 }))
    await Promise.all(members.map(async (c, i) => {
      await c.connect()
      await c.subscribe({ topic, fromBeginning: true })
      await c.run({ eachMessage: async ({ message }) => { seen.set(message.value.toString(), i) } })
    }))
    const deadline = Date.now() + TIMEOUT
    while (seen.size < 200 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    await Promise.all(members.map(c => c.disconnect()))
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
    const groups = await admin.listGroups()
    await admin.disconnect()
    return { seen: seen.size, members: [...new Set(seen.values())].length, offsets: offsets[0].partitions.map(p => Number(p.offset)), groups: groups.groups.map(g => g.groupId) }
  },

  async admin () {
    const [topic] = args
    const admin = client().admin()
    await admin.connect()
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '120000' }] }] })
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const configs = await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }] })
    const offsets = await admin.fetchTopicOffsets(topic)
    await admin.deleteTopics({ topics: [topic] })
    // Metadata may come from another node than the one that answered the delete, and a follower applies
    // the delete a heartbeat later (as Kafka's brokers learn metadata asynchronously): wait for it to go.
    let after = await admin.listTopics()
    const deadline = Date.now() + TIMEOUT
    while (after.includes(topic) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 100))
      after = await admin.listTopics()
    }
    const cluster = await admin.describeCluster()
    await admin.disconnect()
    return {
      created,
      again,
      partitions: meta.topics[0].partitions.length,
      retention: configs.resources[0].configEntries[0].configValue,
      offsets: offsets.length,
      deleted: !after.includes(topic),
      brokers: cluster.brokers.length
    }
  },

  async transaction () {
    const producer = client().producer({ transactionalId: 'tx-js', maxInFlightRequests: 1, idempotent: true })
    await producer.connect()
    try {
      const tx = await producer.transaction()
      await tx.abort()
      return { refused: false }
    } catch (e) {
      return { refused: true, type: e.type || e.name }
    } finally {
      await producer.disconnect()
    }
  },

  async sasl () {
    const [topic, token] = args
    const kafka = client(sasl(token))
    const producer = kafka.producer()
    try {
      await producer.connect()
      await producer.send({ topic, messages: [{ value: 'authed' }] })
      await producer.disconnect()
      const got = await consumeN(kafka, topic, 1, `g-${topic}`)
      return { ok: true, value: got[0].value }
    } catch (e) {
      return { ok: false, type: e.type || e.name }
    }
  }
}

scenarios[scenario]()
  .then(result => { console.log(JSON.stringify(result)); process.exit(0) })
  .catch(e => { console.error(e); process.exit(1) })
