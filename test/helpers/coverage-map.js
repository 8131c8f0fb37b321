// Coverage is measured on the plugin's sources only; the demo and test helpers do not count.
module.exports = () => ['lib/**/*.ts', '!lib/demo/**']
