// Jest transform for the text files esbuild bundles as strings (.xml templates, .sh and .py scripts).
module.exports = {
  process(source) {
    return { code: `module.exports = ${JSON.stringify(source)};` };
  },
};
