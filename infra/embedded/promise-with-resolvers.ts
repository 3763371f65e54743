/**
 * `Promise.withResolvers` for Node 20: aws-local-stepfunctions 3 calls it inside every Task
 * (it declares Node >= 22) and fails with "Promise.withResolvers is not a function" without it.
 * Imported for its effect, before the library runs, by every module that runs the interpreter.
 */
if (typeof Reflect.get(Promise, 'withResolvers') !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
export {};
